// Package daemon is ipsd serve: the store, the watch folders, the metrics
// endpoint, and the socket API described here.
//
// # The socket API
//
// HTTP/1.1 on a Unix socket (or the one systemd hands over). POST
// /scene7/services/IpsApiService takes a SOAP 1.1 envelope or a bare
// xxxParam element; GET /scene7/webservice/IpsApi-2008-01-15.wsdl (also
// with ?wsdl, and the service path with ?wsdl) serves ipsd's own WSDL, which
// names exactly the operations below and declares authHeader as a SOAP
// header of each. Operations: copyImage, getCompanyInfo, getFolders,
// getFolderTree, getAssets, getAssetsByName, checkAssetNames, searchAssets.
//
// Wire rules (ips-api.md §2): the operation element may be in any
// http://www.scene7.com/IpsApi/xsd/<date> namespace (or the common one),
// prefixed or default; the reply uses the same namespace, inside a soapenv
// envelope for SOAP requests. authHeader is read in the common or any
// versioned namespace, children in any order; the legacy AuthUser and
// AuthPassword headers are read too. SOAPAction may be bare, quoted, empty
// or absent: ipsd dispatches on the body's element. Faults carry
// faultcode, faultstring and a detail with the fault element in the common
// namespace; HTTP 500, 503 for the busy fault, or the status in
// faultHttpStatusCode, which must be a final status that carries a body
// (200–599 but 204 and 304; anything else is a 30001 fault). gzipResponse
// decides compression; without it, Accept-Encoding does.
//
// Documents are UTF-8 (a byte order mark is skipped); ISO-8859-1 and
// US-ASCII are read when the XML declaration names them, other encodings
// are refused. DTDs, entity declarations, processing instructions other
// than the declaration, nesting deeper than 32, more than 20,000 elements
// and text runs over 64 KiB are refused (30003) before anything else
// happens, as are bodies over [api] max_body_bytes and bodies not received
// within 10 s (headers: 5 s); a client that has not read its reply 30 s
// after ipsd started writing it is cut off. A fault reason is one line of at most 300
// bytes without control characters; values quoted from a request are
// shortened, and XML errors do not quote the text after a stray '&'.
// A copyImageParam child given twice is refused (30001). Reply texts that
// quote the tree (a file name that is not UTF-8, or holds a control
// character) carry U+FFFD for what XML cannot hold.
//
// # Identity
//
// decisions.md §5: credentials decide when sent (authHeader user and
// password; else HTTP Basic), checked against the user's bcrypt hash, with
// no fallback: wrong password 10001, unknown user 10002. The user name is
// an email and is matched without regard to case (the config refuses two
// users whose emails differ only in case); passwords are exact. Credentials that
// cannot be checked also refuse the request instead of falling back to
// the socket peer: an Authorization header that is not valid HTTP Basic,
// or an authHeader holding only accessToken or samlResponse (10000).
// Without credentials the caller is the user whose unix list holds the
// socket peer's uid (SO_PEERCRED); else 10000. ipsd never answers 401.
//
// Roles are per company membership (ips-api.md §1.5); ips_admin spans
// every company. copyImage: IpsAdmin, IpsCompanyAdmin, IpsUser,
// ImagePortalAdmin, ImagePortalContrib, ImagePortalContribUser. The read
// operations: every role but WebServiceUser, which no documented
// operation list names. A member whose roles all lack the operation gets
// 20003, a non-member 20000.
//
// # Memory under load
//
// Request bodies held at once are bounded by a 64 MiB budget: a request
// that finds no room within 2 s gets the busy fault. Renders are bounded
// by [render] workers, and copies waiting for a worker by [api] max_queue
// (more get the busy fault, HTTP 503). With 2 workers, the corpus photos
// and 1000 copy requests from 200 clients at once, the daemon's peak RSS
// stays under 200 MiB (TestConcurrentClients asserts it; about 85 MiB
// measured).
package daemon
