package daemon

import (
	_ "embed"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// wsdlPath is where ipsd serves its WSDL (ips-api.md §2.1); the service
// path with ?wsdl serves it too.
const wsdlPath = "/scene7/webservice/IpsApi-2008-01-15.wsdl"

// wsdlTemplate is ipsd's own WSDL: the types and elements of the
// operations it implements. The per-operation messages, port type and
// binding entries are generated from wsdlOps, so that the WSDL names
// exactly the operations the dispatcher serves.
//
//go:embed wsdl/IpsApi-2008-01-15.wsdl
var wsdlTemplate string

// wsdlOps are the operations in the WSDL: copyImage and the read
// operations.
func wsdlOps() []string {
	ops := []string{"copyImage"}
	for op := range readOps {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	return ops
}

var wsdlBody = sync.OnceValue(func() string {
	var msgs, pt, bind strings.Builder
	for _, op := range wsdlOps() {
		msgs.WriteString(`  <wsdl:message name="` + op + `Request"><wsdl:part name="parameters" element="t:` + op + `Param"/></wsdl:message>` + "\n")
		msgs.WriteString(`  <wsdl:message name="` + op + `Response"><wsdl:part name="parameters" element="t:` + op + `Return"/></wsdl:message>` + "\n")

		pt.WriteString(`    <wsdl:operation name="` + op + `">` + "\n")
		pt.WriteString(`      <wsdl:input message="w:` + op + `Request"/>` + "\n")
		pt.WriteString(`      <wsdl:output message="w:` + op + `Response"/>` + "\n")
		for _, f := range []string{"authenticationFault", "authorizationFault", "ipsApiFault"} {
			pt.WriteString(`      <wsdl:fault name="` + f + `" message="w:` + f + `"/>` + "\n")
		}
		pt.WriteString("    </wsdl:operation>\n")

		bind.WriteString(`    <wsdl:operation name="` + op + `">` + "\n")
		bind.WriteString(`      <soap:operation soapAction="` + op + `" style="document"/>` + "\n")
		bind.WriteString(`      <wsdl:input><soap:body use="literal"/><soap:header message="w:authHeader" part="authHeader" use="literal"/></wsdl:input>` + "\n")
		bind.WriteString(`      <wsdl:output><soap:body use="literal"/></wsdl:output>` + "\n")
		for _, f := range []string{"authenticationFault", "authorizationFault", "ipsApiFault"} {
			bind.WriteString(`      <wsdl:fault name="` + f + `"><soap:fault name="` + f + `" use="literal"/></wsdl:fault>` + "\n")
		}
		bind.WriteString("    </wsdl:operation>\n")
	}
	return strings.NewReplacer("{{messages}}", msgs.String(), "{{porttype}}", pt.String(), "{{binding}}", bind.String()).
		Replace(wsdlTemplate)
})

// serveWSDL answers the WSDL with the service address the client reached
// it by: ?serviceUrl= when given (as Adobe's servlet does, for proxies);
// for a client on the Unix socket an http+unix URL naming the configured
// socket (what requests-unixsocket and similar clients take); else the
// request's own host.
func (d *Daemon) serveWSDL(w http.ResponseWriter, r *http.Request) {
	loc := r.URL.Query().Get("serviceUrl")
	if loc == "" {
		const svc = "/scene7/services/IpsApiService"
		if p, _ := r.Context().Value(peerKey{}).(peer); p.OK {
			loc = "http+unix://" + url.PathEscape(d.cfg().API.Socket) + svc
		} else {
			host := r.Host
			if host == "" {
				host = "localhost"
			}
			loc = "http://" + host + svc
		}
	}
	var b strings.Builder
	xmlAttrEscaper.WriteString(&b, loc)
	w.Header().Set("Content-Type", "text/xml; charset=UTF-8")
	w.Write([]byte(strings.Replace(wsdlBody(), "{{location}}", b.String(), 1)))
}

var xmlAttrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")
