<?php
/* An unmodified PHP curl program for authtap's tests (php-cli, php-curl).
 *
 *   php php_client.php [--cainfo FILE] [--http2] easy|multi|multi-noread URL...
 *
 * easy: curl_exec once per URL on one handle.  multi: every URL on one
 * curl_multi handle, driven by curl_multi_exec, each message read with
 * curl_multi_info_read and its handle removed.  multi-noread: the same
 * without ever reading a message; curl_multi_close removes the handles.  One
 * line per transfer on stdout, the same with and without the preload:
 * transfers end in any order, so the lines go out sorted, at the end. */

const LOOP_SECS = 20;

function make_handle(string $url, array $opts)
{
	$c = curl_init($url);
	curl_setopt($c, CURLOPT_RETURNTRANSFER, true);
	// An empty proxy keeps http_proxy and friends out of the test.
	curl_setopt($c, CURLOPT_PROXY, "");
	curl_setopt($c, CURLOPT_TIMEOUT, LOOP_SECS);
	if (isset($opts["cainfo"]))
		curl_setopt($c, CURLOPT_CAINFO, $opts["cainfo"]);
	if (isset($opts["http2"]))
		curl_setopt($c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
	return $c;
}

$lines = [];

function report($c, string $api, $result, string $url, string $body)
{
	global $lines;
	$lines[] = sprintf("transfer api=%s result=%s status=%d url=%s body=%s\n", $api, $result,
	       curl_getinfo($c, CURLINFO_RESPONSE_CODE), $url, bin2hex($body));
}

$args = array_slice($argv, 1);
$opts = [];
while ($args && str_starts_with($args[0], "--")) {
	if ($args[0] === "--cainfo") {
		$opts["cainfo"] = $args[1];
		$args = array_slice($args, 2);
	} elseif ($args[0] === "--http2") {
		$opts["http2"] = true;
		$args = array_slice($args, 1);
	} else {
		exit(2);
	}
}
if (count($args) < 2)
	exit(2);
$mode = $args[0];
$urls = array_slice($args, 1);

if ($mode === "easy") {
	$c = make_handle($urls[0], $opts);
	foreach ($urls as $url) {
		curl_setopt($c, CURLOPT_URL, $url);
		$body = curl_exec($c);
		report($c, "easy", curl_errno($c), $url, $body === false ? "" : $body);
	}
	curl_close($c);
	sort($lines);
	echo implode("", $lines);
	exit(0);
}
if ($mode !== "multi" && $mode !== "multi-noread")
	exit(2);

$read = $mode === "multi";
$m = curl_multi_init();
$hs = [];
foreach ($urls as $i => $url) {
	$hs[$i] = make_handle($url, $opts);
	curl_multi_add_handle($m, $hs[$i]);
}
$left = count($hs);
$start = microtime(true);
do {
	$status = curl_multi_exec($m, $active);
	while ($read && ($info = curl_multi_info_read($m))) {
		$i = array_search($info["handle"], $hs, true);
		report($info["handle"], "multi", $info["result"], $urls[$i],
		       curl_multi_getcontent($info["handle"]) ?? "");
		curl_multi_remove_handle($m, $info["handle"]);
		$left--;
	}
	if ($active)
		curl_multi_select($m, 1.0);
} while (($active || ($read && $left)) && $status === CURLM_OK &&
	 microtime(true) - $start < LOOP_SECS);
if (!$read)
	foreach ($hs as $i => $c)
		report($c, "multi", "unknown", $urls[$i], curl_multi_getcontent($c) ?? "");
curl_multi_close($m);
sort($lines);
echo implode("", $lines);
exit($read && $left ? 1 : 0);
