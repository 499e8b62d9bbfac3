"""A real SOAP client for ipsd's API test: Debian's python3-zeep loads ipsd's
WSDL over the Unix socket (python3-requests-unixsocket) and calls
getCompanyInfo, getAssetsByName, searchAssets and copyImage with an
authHeader, then makes one call with a wrong password. It prints one JSON
object with what it got; the Go test asserts on it and on the tree.

usage: zeep_client.py SOCKET USER PASSWORD COMPANY SOURCE_NAME FOLDER NEW_NAME
"""
import json
import sys
import urllib.parse

import requests_unixsocket
import zeep
from zeep.transports import Transport


class SocketAdapter(requests_unixsocket.UnixAdapter):
    """Sends every request it is mounted for to one Unix socket."""

    def __init__(self, sock):
        super().__init__()
        self.sock_url = "http+unix://" + urllib.parse.quote(sock, safe="")

    def get_connection(self, url, proxies=None):
        return super().get_connection(self.sock_url, proxies)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        return self.get_connection(request.url, proxies)  # requests >= 2.32


def items(v):
    """zeep unwraps an array type with one repeated child into a list;
    depending on nesting it may also hand back the wrapper object."""
    if v is None:
        return []
    if isinstance(v, list):
        return v
    return list(v["items"] or [])


def main():
    sock, user, password, company, source, folder, new_name = sys.argv[1:8]
    # zeep's own loader fetches the WSDL, from an http URL (it takes only
    # http(s) and file URLs, anything else for a file name) whose host the
    # session's SocketAdapter sends to the Unix socket. Calls then go to the
    # service address the WSDL names, an http+unix URL, which the
    # requests-unixsocket session sends to the socket too.
    session = requests_unixsocket.Session()
    session.mount("http://ipsd.socket/", SocketAdapter(sock))
    wsdl = "http://ipsd.socket/scene7/webservice/IpsApi-2008-01-15.wsdl"
    transport = Transport(session=session)
    loaded = []
    load = transport.load
    transport.load = lambda url: loaded.append(url) or load(url)
    client = zeep.Client(wsdl, transport=transport)
    if loaded != [wsdl]:
        raise SystemExit("zeep did not load the WSDL from the socket: %r" % loaded)
    address = client.service._binding_options["address"]
    if address != "http+unix://" + urllib.parse.quote(sock, safe="") + "/scene7/services/IpsApiService":
        raise SystemExit("service address %r is not the socket" % address)
    header = {"authHeader": {"user": user, "password": password,
                             "appName": "zeep-test", "appVersion": "1.0"}}
    svc = client.service
    out = {}

    info = svc.getCompanyInfo(companyName=company, _soapheaders=header)
    out["company"] = {"handle": info.companyHandle, "name": info.name, "rootPath": info.rootPath}

    found = svc.getAssetsByName(companyHandle=info.companyHandle,
                                nameArray={"items": [source]}, _soapheaders=header)
    assets = items(found)
    out["assets"] = [{"handle": a.assetHandle, "name": a.name, "fileName": a.fileName,
                      "folderHandle": a.folderHandle} for a in assets]

    search = svc.searchAssets(
        companyHandle=info.companyHandle, folder=company + "/", includeSubfolders=True,
        systemFieldConditionArray={"items": [{"field": "name", "op": "StartsWith", "value": source[:4]}]},
        recordsPerPage=10, resultsPage=1, _soapheaders=header)
    out["search_total"] = search.totalRows
    out["search_names"] = [a.name for a in items(search.assetArray)]

    handle = svc.copyImage(companyHandle=info.companyHandle, assetHandle=assets[0].assetHandle,
                           folderHandle=folder, name=new_name, urlModifier="",
                           _soapheaders=header)
    out["copy"] = handle

    bad = {"authHeader": {"user": user, "password": password + "-wrong"}}
    try:
        svc.getCompanyInfo(companyName=company, _soapheaders=bad)
        out["bad_password"] = "no fault"
    except zeep.exceptions.Fault as f:
        code = f.detail.find("{http://www.scene7.com/IpsApi/xsd}authenticationFault/"
                             "{http://www.scene7.com/IpsApi/xsd}code")
        out["bad_password"] = {"faultstring": f.message, "code": code.text if code is not None else None}

    print(json.dumps(out))


if __name__ == "__main__":
    main()
