"""The recorder's transports, one module per way a chat travels through mitmproxy: websocket.py
today, and beside it each new one (Server-Sent Events over HTTP streams next). A transport turns
a flow's events into capture records in plain Python that the addon's hooks hand off to; none
imports mitmproxy, so the offline flow-file and HAR readers reuse them.

A folder, not modules beside addon.py: `mitmdump -s` leaves the script's folder on sys.path,
where a module named websocket.py would shadow the websocket-client package of other addons.
"""
