package daemon

import (
	"strings"
	"testing"
)

func TestDecodeCallShapes(t *testing.T) {
	param := func(prefix, ns string) string {
		decl := ` xmlns="` + ns + `"`
		if prefix != "" {
			decl = ` xmlns:` + strings.TrimSuffix(prefix, ":") + `="` + ns + `"`
		}
		return `<` + prefix + `copyImageParam` + decl + `><` + prefix + `companyHandle>c|6</` + prefix + `companyHandle>` +
			`<` + prefix + `assetHandle>a|739|1|537</` + prefix + `assetHandle><` + prefix + `folderHandle>ApiTestCo/</` + prefix + `folderHandle>` +
			`<` + prefix + `name>Copy_1</` + prefix + `name><` + prefix + `urlModifier/></` + prefix + `copyImageParam>`
	}
	env := func(header, body string) string {
		return `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>` +
			header + `</soapenv:Header><soapenv:Body>` + body + `</soapenv:Body></soapenv:Envelope>`
	}
	tests := []struct {
		name, body, ns, user string
		soap                 bool
	}{
		{"bare default ns", param("", nsDefault), nsDefault, "", false},
		{"bare later ns", param("", "http://www.scene7.com/IpsApi/xsd/2014-04-03"), "http://www.scene7.com/IpsApi/xsd/2014-04-03", "", false},
		{"jax-ws prefixed", env(`<ns3:authHeader xmlns:ns3="http://www.scene7.com/IpsApi/xsd"><ns3:password>pw</ns3:password><ns3:user>u@x</ns3:user></ns3:authHeader>`,
			param("ns2:", "http://www.scene7.com/IpsApi/xsd/2013-02-15")), "http://www.scene7.com/IpsApi/xsd/2013-02-15", "u@x", true},
		{"versioned header", env(`<authHeader xmlns="http://www.scene7.com/IpsApi/xsd/2016-01-14-beta"><user>v@x</user><password>p</password><appName>a</appName><appVersion>1</appVersion></authHeader>`,
			param("", "http://www.scene7.com/IpsApi/xsd/2016-01-14-beta")), "http://www.scene7.com/IpsApi/xsd/2016-01-14-beta", "v@x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := decodeCall([]byte(tt.body))
			if f != nil {
				t.Fatalf("decodeCall: %v", f)
			}
			if c.Op != "copyImage" || c.NS != tt.ns || c.SOAP != tt.soap || c.Cred.User != tt.user {
				t.Errorf("decodeCall = op %q ns %q soap %v user %q; want copyImage %q %v %q", c.Op, c.NS, c.SOAP, c.Cred.User, tt.ns, tt.soap, tt.user)
			}
			p, f := readCopyParams(c)
			if f != nil || p.Company != "c|6" || p.Asset != "a|739|1|537" || p.Folder != "ApiTestCo/" || p.Name != "Copy_1" || p.Modifier != "" {
				t.Errorf("readCopyParams = %+v, %v", p, f)
			}
		})
	}
}

func TestDecodeCallRefusesHostileXML(t *testing.T) {
	deep := strings.Repeat("<a>", 10000) + strings.Repeat("</a>", 10000)
	tests := map[string]string{
		"billion laughs": `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><copyImageParam xmlns="` + nsDefault + `">&lol2;</copyImageParam>`,
		"deep nesting":   `<copyImageParam xmlns="` + nsDefault + `">` + deep + `</copyImageParam>`,
		"invalid utf8":   "<copyImageParam xmlns=\"" + nsDefault + "\"><name>\xff\xfe</name></copyImageParam>",
		"truncated":      `<copyImageParam xmlns="` + nsDefault + `"><name>x</name>`,
		"wrong ns":       `<copyImageParam xmlns="urn:other"/>`,
		"two roots":      `<a/><b/>`,
		"two SOAP bodies": `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><getFoldersParam xmlns="` + nsDefault +
			`"/></e:Body><e:Body><copyImageParam xmlns="` + nsDefault + `"/></e:Body></e:Envelope>`,
		"two SOAP headers": `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header/><e:Header/><e:Body><getFoldersParam xmlns="` + nsDefault + `"/></e:Body></e:Envelope>`,
		"SOAP 1.2":         `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><getFoldersParam xmlns="` + nsDefault + `"/></e:Body></e:Envelope>`,
		"no SOAP Body":     `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header/></e:Envelope>`,
		"two elements in the Body": `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><getFoldersParam xmlns="` + nsDefault +
			`"/><getFoldersParam xmlns="` + nsDefault + `"/></e:Body></e:Envelope>`,
		"a PI":        `<?php echo 1 ?><copyImageParam xmlns="` + nsDefault + `"/>`,
		"not a Param": `<copyImageReturn xmlns="` + nsDefault + `"/>`,
		"empty":       ``,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			_, f := decodeCall([]byte(body))
			if f == nil || f.Code != 30003 {
				t.Errorf("decodeCall = %v; want fault 30003", f)
			}
		})
	}
}

func TestEncodeReplyAndFault(t *testing.T) {
	ret := elem{Name: "copyImageReturn", Kids: []elem{{Name: "assetHandle", Text: "a|1|1|2"}}}
	got := string(encodeReply(false, nsDefault, ret))
	if !strings.Contains(got, `<copyImageReturn xmlns="`+nsDefault+`"><assetHandle>a|1|1|2</assetHandle></copyImageReturn>`) {
		t.Errorf("bare reply = %s", got)
	}
	got = string(encodeReply(true, nsDefault, ret))
	if !strings.Contains(got, `<soapenv:Body><ns1:copyImageReturn xmlns:ns1="`+nsDefault+`"><ns1:assetHandle>a|1|1|2</ns1:assetHandle></ns1:copyImageReturn></soapenv:Body>`) {
		t.Errorf("soap reply = %s", got)
	}
	f := apiFault(30000, "Asset ID '%s' is already in use.", "a<b")
	got = string(encodeFault(true, f))
	for _, want := range []string{"<faultcode>soapenv:Server</faultcode>", "<faultstring>ipsApiFault</faultstring>",
		`<ns1:ipsApiFault xmlns:ns1="http://www.scene7.com/IpsApi/xsd"><ns1:code>30000</ns1:code><ns1:reason>Asset ID 'a&lt;b' is already in use.</ns1:reason>`} {
		if !strings.Contains(got, want) {
			t.Errorf("soap fault lacks %s:\n%s", want, got)
		}
	}
	got = string(encodeFault(false, authFault(10001, "Invalid username/password")))
	if !strings.Contains(got, `<authenticationFault xmlns="http://www.scene7.com/IpsApi/xsd"><code>10001</code>`) {
		t.Errorf("bare fault = %s", got)
	}
}

// TestDecodeCallEncodings: a UTF-8 byte order mark and the encodings SOAP
// stacks declare besides UTF-8 are read; others are refused, not misread.
func TestDecodeCallEncodings(t *testing.T) {
	body := func(decl, name string) string {
		return decl + `<copyImageParam xmlns="` + nsDefault + `"><companyHandle>c|6</companyHandle><assetHandle>a|1</assetHandle>` +
			`<folderHandle>Co/</folderHandle><name>` + name + `</name><urlModifier/></copyImageParam>`
	}
	ok := []struct{ name, body, want string }{
		{"UTF-8 BOM", "\xef\xbb\xbf" + body(`<?xml version="1.0" encoding="utf-8"?>`, "Caf\xc3\xa9"), "Café"},
		{"UTF-8 BOM, no declaration", "\xef\xbb\xbf" + body("", "x"), "x"},
		{"ISO-8859-1", body(`<?xml version="1.0" encoding="ISO-8859-1"?>`, "Caf\xe9 \xff"), "Café ÿ"},
		{"US-ASCII", body(`<?xml version='1.0' encoding='us-ascii'?>`, "plain"), "plain"},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			c, f := decodeCall([]byte(tt.body))
			if f != nil {
				t.Fatalf("decodeCall: %v", f)
			}
			if p, f := readCopyParams(c); f != nil || p.Name != tt.want {
				t.Errorf("name %q, %v; want %q", p.Name, f, tt.want)
			}
		})
	}
	bad := map[string]string{
		"latin-1 bytes without a declaration": body("", "Caf\xe9"),
		"a high byte in US-ASCII":             body(`<?xml version="1.0" encoding="US-ASCII"?>`, "Caf\xc3\xa9"),
		"Shift_JIS":                           body(`<?xml version="1.0" encoding="Shift_JIS"?>`, "x"),
		"UTF-16 declared":                     body(`<?xml version="1.0" encoding="UTF-16"?>`, "x"),
	}
	for name, b := range bad {
		t.Run(name, func(t *testing.T) {
			if _, f := decodeCall([]byte(b)); f == nil || f.Code != 30003 {
				t.Errorf("decodeCall = %v; want fault 30003", f)
			}
		})
	}
}

// TestFaultHttpStatusCode: the status a client asks for faults must be a
// final status with a body; anything else is a 30001 fault.
func TestFaultHttpStatusCode(t *testing.T) {
	env := func(v string) []byte {
		return []byte(`<e:Envelope xmlns:e="` + nsSOAP + `"><e:Header><h:authHeader xmlns:h="` + nsCommon + `"><h:faultHttpStatusCode>` + v +
			`</h:faultHttpStatusCode></h:authHeader></e:Header><e:Body><getFoldersParam xmlns="` + nsDefault + `"/></e:Body></e:Envelope>`)
	}
	for v, want := range map[string]int{"200": 200, " 299 ": 299, "503": 503, "599": 599, "": 0} {
		if c, f := decodeCall(env(v)); f != nil || c.FaultCode != want {
			t.Errorf("faultHttpStatusCode %q: %v, %v; want %d", v, c, f, want)
		}
	}
	for _, v := range []string{"100", "101", "199", "204", "304", "600", "-1", "2e2", "abc"} {
		if _, f := decodeCall(env(v)); f == nil || f.Code != 30001 || !strings.Contains(f.Reason, "faultHttpStatusCode") {
			t.Errorf("faultHttpStatusCode %q: %v; want a 30001 fault naming it", v, f)
		}
	}
}

// TestXMLErrorsQuoteNoSecrets: a password with an unescaped '&' breaks the
// XML; the fault (which is also logged) must not quote what followed it.
func TestXMLErrorsQuoteNoSecrets(t *testing.T) {
	body := `<e:Envelope xmlns:e="` + nsSOAP + `"><e:Header><authHeader xmlns="` + nsCommon + `"><user>u@x</user><password>pa&s3cr3t;word</password></authHeader></e:Header>` +
		`<e:Body><getFoldersParam xmlns="` + nsDefault + `"/></e:Body></e:Envelope>`
	_, f := decodeCall([]byte(body))
	if f == nil || f.Code != 30003 || !strings.Contains(f.Reason, "&amp;") {
		t.Fatalf("decodeCall = %v; want a 30003 fault about the '&'", f)
	}
	if strings.Contains(f.Reason, "s3cr3t") {
		t.Errorf("reason quotes the password: %s", f.Reason)
	}
}

func TestWrongNamespaceSaysWhichOne(t *testing.T) {
	_, f := decodeCall([]byte(`<copyImageParam><companyHandle>c|1</companyHandle></copyImageParam>`))
	if f == nil || f.Code != 30003 || !strings.Contains(f.Reason, "http://www.scene7.com/IpsApi/xsd/<date>") {
		t.Errorf("fault %+v; want 30003 naming the IpsApi namespace", f)
	}
}
