// A reverse proxy on node:http + fetch, like a Node MCP gateway: each
// request is passed to the upstream URL, and the upstream's status comes
// back to the client; "forward" copies WWW-Authenticate, "drop" does not.
// Prints its port, serves N requests, then exits.
//
//   node sock_proxy.mjs forward|drop UPSTREAM_URL N
import http from "node:http";

const [mode, upstream, count] = process.argv.slice(2);
let left = Number(count);
const server = http.createServer(async (req, res) => {
	const r = await fetch(upstream);
	const body = await r.text();
	const headers = {"content-type": "text/plain"};
	const challenge = r.headers.get("www-authenticate");
	if (mode === "forward" && challenge)
		headers["www-authenticate"] = challenge;
	res.writeHead(r.status, headers);
	res.end(body);
	if (--left === 0)
		server.close();
});
server.keepAliveTimeout = 100;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
