package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestRequestFixtures sends requests in the shapes real clients use
// (ips-api.md §5), from testdata/requests, and checks each reply.
func TestRequestFixtures(t *testing.T) {
	e := startEnv(t, userTOML(t, "client@example.com", "pw&<1>", false, "ApiTestCo=IpsUser"))
	company := e.ls("")["ApiTestCo"]
	tree := e.ls("ApiTestCo/")
	src := tree["ApiTestCo/photos/DSCN0010.jpg"]

	fill := func(file, name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("testdata/requests", file))
		if err != nil {
			t.Fatal(err)
		}
		return strings.NewReplacer(
			"{{user}}", "client@example.com", "{{password}}", "pw&amp;&lt;1&gt;",
			"{{company}}", company, "{{company_name}}", "ApiTestCo", "{{asset}}", src,
			"{{source_name}}", "DSCN0010", "{{folder}}", "ApiTestCo/out/", "{{name}}", name,
		).Replace(string(b))
	}
	handleIn := func(prefix string) *regexp.Regexp {
		return regexp.MustCompile(`<` + prefix + `assetHandle>(a\|\d+\|1\|\d+)</` + prefix + `assetHandle>`)
	}

	tests := []struct {
		name    string
		file    string
		headers map[string]string
		status  int
		want    []string // substrings of the reply
		handle  *regexp.Regexp
		file2   string // the copy it makes, below root
	}{
		{"JAX-WS prefixed, empty quoted SOAPAction", "jaxws_prefixed.xml", map[string]string{"SOAPAction": `""`}, 200,
			[]string{`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body><ns1:copyImageReturn xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2014-04-03">`},
			handleIn("ns1:"), "ApiTestCo/out/jaxws.jpg"},
		{".NET quoted SOAPAction, default namespaces, header children reordered", "dotnet_quoted.xml", map[string]string{"SOAPAction": `"copyImage"`}, 200,
			[]string{`<ns1:copyImageReturn xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2013-02-15">`},
			handleIn("ns1:"), "ApiTestCo/out/dotnet.png"},
		{"Ruby Savon, authHeader in the common namespace", "savon_common.xml", map[string]string{"SOAPAction": "getAssetsByName"}, 200,
			[]string{`<ns1:getAssetsByNameReturn xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2010-01-31"><ns1:assetArray><ns1:items><ns1:assetHandle>` + src + `</ns1:assetHandle><ns1:type>Image</ns1:type><ns1:name>DSCN0010</ns1:name><ns1:fileName>DSCN0010.jpg</ns1:fileName><ns1:folder>ApiTestCo/photos/</ns1:folder><ns1:folderHandle>ApiTestCo/photos/</ns1:folderHandle>`},
			nil, ""},
		{"PHP SoapClient, versioned authHeader, no SOAPAction", "php_versioned.xml", map[string]string{"SOAPAction": "<absent>"}, 200,
			[]string{`<ns1:searchAssetsReturn xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2014-04-03"><ns1:totalRows>2</ns1:totalRows>`,
				"<ns1:name>Canon_40D</ns1:name>", "<ns1:name>canon_hdr_YES</ns1:name>"},
			nil, ""},
		{"bare POX, socket peer identity", "bare_pox.xml", nil, 200,
			[]string{`<copyImageReturn xmlns="http://www.scene7.com/IpsApi/xsd/2008-01-15"><assetHandle>a|`},
			handleIn(""), "ApiTestCo/out/pox.jpg"},
		{"hand-built Node envelope, fault status 200", "node_faultstatus.xml", map[string]string{"SOAPAction": "getFolders"}, 200,
			[]string{"<faultcode>soapenv:Client</faultcode><faultstring>ipsApiFault</faultstring><detail><ns1:ipsApiFault xmlns:ns1=\"http://www.scene7.com/IpsApi/xsd\"><ns1:code>30001</ns1:code><ns1:reason>Invalid folderPath '/no/such/folder'.</ns1:reason>"},
			nil, ""},
	}
	names := map[string]string{"jaxws_prefixed.xml": "jaxws", "dotnet_quoted.xml": "dotnet", "bare_pox.xml": "pox"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, body := e.call(fill(tt.file, names[tt.file]), tt.headers)
			if status != tt.status {
				t.Errorf("HTTP %d; want %d\n%s", status, tt.status, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "text/xml; charset=UTF-8" {
				t.Errorf("Content-Type %q", ct)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("reply lacks\n%s\nreply:\n%s", w, body)
				}
			}
			if tt.handle == nil {
				return
			}
			m := tt.handle.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no handle in %s", body)
			}
			if _, err := os.Stat(filepath.Join(e.root, tt.file2)); err != nil {
				t.Errorf("copy not on disk: %v", err)
			}
			waitFor(t, 5e9, tt.file2+" in ipsd ls", func() bool { return e.ls("ApiTestCo/")[tt.file2] == m[1] })
		})
	}
}

// TestWireOptions covers gzip, fault status and the WSDL endpoints.
func TestWireOptions(t *testing.T) {
	e := startEnv(t, userTOML(t, "client@example.com", "pw", false, "ApiTestCo=IpsUser"))
	company := e.ls("")["ApiTestCo"]
	info := `<getCompanyInfoParam xmlns="http://www.scene7.com/IpsApi/xsd/2012-02-14"><companyHandle>` + company + `</companyHandle></getCompanyInfoParam>`
	hdr := func(extra string) string {
		return `<authHeader xmlns="http://www.scene7.com/IpsApi/xsd"><user>client@example.com</user><password>pw</password>` + extra + `</authHeader>`
	}
	gunzip := func(t *testing.T, body string) string {
		t.Helper()
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			t.Fatalf("reply is not gzip: %v", err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	wantInfo := `<ns1:getCompanyInfoReturn xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2012-02-14"><ns1:companyInfo><ns1:companyHandle>` +
		company + `</ns1:companyHandle><ns1:name>ApiTestCo</ns1:name><ns1:rootPath>ApiTestCo/</ns1:rootPath></ns1:companyInfo></ns1:getCompanyInfoReturn>`

	t.Run("gzipResponse true", func(t *testing.T) {
		// identity: else Go's client asks for gzip itself and unpacks it
		status, h, body := e.call(envelope(hdr("<gzipResponse>true</gzipResponse>"), info), map[string]string{"Accept-Encoding": "identity"})
		if status != 200 || h.Get("Content-Encoding") != "gzip" {
			t.Fatalf("HTTP %d, Content-Encoding %q", status, h.Get("Content-Encoding"))
		}
		if got := gunzip(t, body); !strings.Contains(got, wantInfo) {
			t.Errorf("reply %s", got)
		}
	})
	t.Run("gzipResponse false beats Accept-Encoding", func(t *testing.T) {
		status, h, body := e.call(envelope(hdr("<gzipResponse>false</gzipResponse>"), info), map[string]string{"Accept-Encoding": "gzip"})
		if status != 200 || h.Get("Content-Encoding") != "" || !strings.Contains(body, wantInfo) {
			t.Errorf("HTTP %d, Content-Encoding %q, %s", status, h.Get("Content-Encoding"), body)
		}
	})
	t.Run("Accept-Encoding gzip", func(t *testing.T) {
		_, h, body := e.call(envelope(hdr(""), info), map[string]string{"Accept-Encoding": "deflate, gzip;q=0.5"})
		if h.Get("Content-Encoding") != "gzip" || !strings.Contains(gunzip(t, body), wantInfo) {
			t.Errorf("Content-Encoding %q", h.Get("Content-Encoding"))
		}
	})
	t.Run("Accept-Encoding gzip;q=0", func(t *testing.T) {
		_, h, _ := e.call(envelope(hdr(""), info), map[string]string{"Accept-Encoding": "gzip;q=0"})
		if h.Get("Content-Encoding") != "" {
			t.Errorf("Content-Encoding %q; want none", h.Get("Content-Encoding"))
		}
	})
	t.Run("SOAPAction forms", func(t *testing.T) {
		// ipsd dispatches on the body: bare, quoted, empty, absent, even a
		// SOAPAction naming another operation
		for _, sa := range []string{"getCompanyInfo", `"getCompanyInfo"`, `""`, "", "<absent>", `"copyImage"`, "urn:whatever#getCompanyInfo"} {
			status, _, body := e.call(envelope(hdr(""), info), map[string]string{"SOAPAction": sa, "Accept-Encoding": "identity"})
			if status != 200 || !strings.Contains(body, wantInfo) {
				t.Errorf("SOAPAction %q: HTTP %d %s", sa, status, body)
			}
		}
	})
	t.Run("faultHttpStatusCode", func(t *testing.T) {
		bad := `<authHeader xmlns="http://www.scene7.com/IpsApi/xsd"><user>client@example.com</user><password>nope</password><faultHttpStatusCode>299</faultHttpStatusCode></authHeader>`
		status, _, body := e.call(envelope(bad, info), nil)
		if status != 299 || !strings.Contains(body, "<ns1:code>10001</ns1:code>") || !strings.Contains(body, "<faultstring>AuthenticationException</faultstring>") {
			t.Errorf("HTTP %d %s; want 299 with authenticationFault 10001", status, body)
		}
	})
	for _, path := range []string{"/scene7/webservice/IpsApi-2008-01-15.wsdl", "/scene7/webservice/IpsApi-2008-01-15.wsdl?wsdl", "/scene7/services/IpsApiService?wsdl"} {
		t.Run("GET "+path, func(t *testing.T) {
			resp, err := e.http.Get("http://ipsd" + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`<wsdl:definitions`)) {
				t.Fatalf("HTTP %d %.200s", resp.StatusCode, b)
			}
			implemented := []string{"checkAssetNames", "copyImage", "getAssets", "getAssetsByName", "getCompanyInfo", "getFolderTree", "getFolders", "searchAssets"}
			// exactly these operations, each once in the port type and once
			// in the binding, and a Param element for each and no other
			var ops, params []string
			for _, m := range regexp.MustCompile(`<wsdl:operation name="(\w+)">`).FindAllSubmatch(b, -1) {
				ops = append(ops, string(m[1]))
			}
			for _, m := range regexp.MustCompile(`<xsd:element name="(\w+)Param">`).FindAllSubmatch(b, -1) {
				params = append(params, string(m[1]))
			}
			slices.Sort(ops)
			slices.Sort(params)
			if want := slices.Sorted(slices.Values(append(slices.Clone(implemented), implemented...))); !slices.Equal(ops, want) {
				t.Errorf("WSDL operations %v; want each of %v twice", ops, implemented)
			}
			if !slices.Equal(params, implemented) {
				t.Errorf("WSDL Param elements %v; want %v", params, implemented)
			}
			for _, op := range implemented {
				if !bytes.Contains(b, []byte(`<soap:operation soapAction="`+op+`"`)) || !bytes.Contains(b, []byte(`<xsd:element name="`+op+`Param">`)) {
					t.Errorf("WSDL lacks operation %s", op)
				}
			}
			if n, ops := bytes.Count(b, []byte(`<soap:header message="w:authHeader" part="authHeader" use="literal"/>`)), 8; n != ops {
				t.Errorf("authHeader is a header of %d operations; want %d", n, ops)
			}
			want := `location="http+unix://` + strings.ReplaceAll(e.socket, "/", "%2F") + `/scene7/services/IpsApiService"`
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("WSDL lacks %s", want)
			}
		})
	}
	t.Run("serviceUrl", func(t *testing.T) {
		resp, err := e.http.Get("http://ipsd/scene7/services/IpsApiService?wsdl&serviceUrl=http://proxy:8080/x%26y")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(b, []byte(`<soap:address location="http://proxy:8080/x&amp;y"/>`)) {
			t.Errorf("serviceUrl not used: %.300s", b[bytes.Index(b, []byte("<wsdl:service")):])
		}
	})
	t.Run("Basic auth, no 401", func(t *testing.T) {
		req, _ := http.NewRequest("POST", "http://ipsd/scene7/services/IpsApiService", strings.NewReader(info))
		req.SetBasicAuth("client@example.com", "wrong")
		resp, err := e.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || resp.Header.Get("WWW-Authenticate") != "" || !bytes.Contains(b, []byte("<code>10001</code>")) {
			t.Errorf("HTTP %d, WWW-Authenticate %q, %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b)
		}
	})
}
