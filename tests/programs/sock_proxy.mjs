// A reverse proxy on node:http + fetch, like a Node MCP gateway: each
// request is passed to the upstream URL, and the upstream's status comes
// back to the client; "forward" copies WWW-Authenticate, "drop" does not.
// Prints its port, serves N requests, then exits.
//
//   node sock_proxy.mjs forward|drop UPSTREAM_URL N [routes]
//
// With "routes", UPSTREAM_URL is the upstream's root and the request's
// method and body go along: /api/PATH goes to UPSTREAM_URL/PATH, /opaque/a
// to UPSTREAM_URL/401 and any other path to UPSTREAM_URL/200 (targets that
// say nothing of the upstream's).
import http from "node:http";

const [mode, upstream, count, routes] = process.argv.slice(2);
let left = Number(count);

function upstreamUrl(path) {
	if (routes !== "routes")
		return upstream;
	if (path.startsWith("/api/"))
		return upstream + path.slice(4);
	return upstream + (path === "/opaque/a" ? "/401" : "/200");
}

async function bodyOf(req) {
	const parts = [];
	for await (const part of req)
		parts.push(part);
	return Buffer.concat(parts);
}

const server = http.createServer(async (req, res) => {
	const init = {};
	if (routes === "routes") {
		init.method = req.method;
		const body = await bodyOf(req);
		if (req.method !== "GET" && req.method !== "HEAD")
			init.body = body;
	}
	const r = await fetch(upstreamUrl(req.url), init);
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
