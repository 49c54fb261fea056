<?php
// A PHP proxy run by php-fpm, for the FastCGI verdict tests; it never
// knows authtap.  It fetches $_SERVER['UPSTREAM'] with php-curl (the
// upstream answers 401 with a Bearer challenge) and answers its FastCGI
// client by $_SERVER['MODE']:
//
//   forward  the status and the WWW-Authenticate header as received
//   drop     the status only
//   convert  a 502, the challenge lost
//   carry    a 200 whose JSON-RPC error carries the challenge
//   stream   an event stream: its head (200) flushed to the client before
//            the upstream call, then an SSE event carrying the challenge
$mode = $_SERVER['MODE'] ?? 'drop';
if ($mode === 'stream') {
	header('Content-Type: text/event-stream');
	echo ": open\n\n";
	while (ob_get_level())
		ob_end_flush();
	flush();
}
$challenge = null;
$h = curl_init($_SERVER['UPSTREAM']);
curl_setopt($h, CURLOPT_RETURNTRANSFER, true);
curl_setopt($h, CURLOPT_PROXY, '');
curl_setopt($h, CURLOPT_HEADERFUNCTION, function ($h, $line) use (&$challenge) {
	if (stripos($line, 'WWW-Authenticate:') === 0)
		$challenge = trim(substr($line, strlen('WWW-Authenticate:')));
	return strlen($line);
});
$body = curl_exec($h);
$status = curl_getinfo($h, CURLINFO_RESPONSE_CODE);
curl_close($h);

if ($mode !== 'stream')
	header('Content-Type: application/json');
switch ($mode) {
case 'forward':
	http_response_code($status);
	if ($challenge !== null)
		header('WWW-Authenticate: ' . $challenge);
	echo json_encode(['error' => 'unauthorized']);
	break;
case 'drop':
	http_response_code($status);
	echo json_encode(['error' => 'unauthorized']);
	break;
case 'convert':
	http_response_code(502);
	echo json_encode(['error' => 'bad gateway']);
	break;
case 'stream':
	echo "event: message\ndata: " . json_encode(['jsonrpc' => '2.0', 'id' => 1, 'error' => [
		'code' => -32001, 'message' => 'Unauthorized',
		'data' => ['wwwAuthenticate' => $challenge]]]) . "\n\n";
	break;
case 'carry':
	echo json_encode(['jsonrpc' => '2.0', 'id' => 1, 'error' => [
		'code' => -32001, 'message' => 'Unauthorized',
		'data' => ['wwwAuthenticate' => $challenge]]]);
	break;
}
