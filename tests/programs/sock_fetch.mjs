// An ordinary Node client for the socket source's tests: fetch (undici)
// each URL in order, keep-alive, and print each status, or "failed" when
// fetch rejects (it does on a 407 from a server that is not its proxy).
//
//   node sock_fetch.mjs URL...
for (const url of process.argv.slice(2)) {
	try {
		const r = await fetch(url);
		await r.text();
		console.log(r.status);
	} catch {
		console.log("failed");
	}
}
