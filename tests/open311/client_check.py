"""Open311 GeoReport v2 as someone else's client sees it.

Runs the PyPI package `georeport` (a Python GeoReport v2 client written by
others) against a running CivicGrid server, in JSON and in XML, after a
request was posted form-encoded exactly as the specification writes it.
Usage: client_check.py BASE_URL API_KEY SERVICE_REQUEST_ID
"""

import sys

from georeport import GeoReport

base, api_key, request_id = sys.argv[1], sys.argv[2], sys.argv[3]
root = base.rstrip("/") + "/open311/v2"
passed, failed = 0, 0


def check(what, ok):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}")


for fmt in ("json", "xml"):
    client = GeoReport(root, api_key=api_key, output_format=fmt)
    services = client.get_service_list()
    codes = [s["service_code"] for s in services]
    check(f"{fmt}: services list 0101 among {len(codes)}", "0101" in codes)
    check(f"{fmt}: disputes (10xx) are not published", not any(c.startswith("10") for c in codes))
    definition = client.get_service_definition("0101")
    attributes = definition["attributes"]
    if fmt == "xml":
        attributes = attributes["attribute"]
    check(f"{fmt}: the definition of 0101 asks for severity", any(a["code"] == "severity" for a in attributes))
    requests = client.get_service_requests(service_code="0101", status="open")
    if isinstance(requests, dict):  # xmltodict gives a dict for a single element
        requests = [requests]
    ids = [r["service_request_id"] for r in requests]
    check(f"{fmt}: the posted request is listed as open", request_id in ids)
    one = client.get_service_request(request_id)
    if isinstance(one, list):
        one = one[0]
    check(f"{fmt}: the request reads back with its code and status", one["service_code"] == "0101" and one["status"] == "open")
    check(f"{fmt}: the detail is in status_notes", "reported" in (one.get("status_notes") or ""))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
