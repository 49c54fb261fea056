// An ordinary Node client for the socket source's tests: fetch (undici)
// each URL in order, keep-alive, and print each status.
//
//   node sock_fetch.mjs URL...
for (const url of process.argv.slice(2)) {
	const r = await fetch(url);
	await r.text();
	console.log(r.status);
}
