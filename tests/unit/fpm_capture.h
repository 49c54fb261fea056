/* What php-fpm 8.2.36 (Debian 12) wrote to its FastCGI client, byte for
 * byte.  Captured with a private pool on 127.0.0.1 (php-fpm8.2 -n -R -F -y
 * fpm.conf -p DIR, pm = static, one child) under
 * strace -f -e trace=write,sendto,writev -xx -s 4096, the requests made by
 * cgi-fcgi -bind -connect 127.0.0.1:PORT with SCRIPT_FILENAME set.  Each
 * string is one write() of the worker on the connection. */
#ifndef AUTHTAP_FPM_CAPTURE_H
#define AUTHTAP_FPM_CAPTURE_H

/* <?php http_response_code(401);
 * header('WWW-Authenticate: Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource"');
 * header('Content-Type: application/json'); echo '{"error":"unauthorized"}';
 * One write: FCGI_STDOUT (id 1, 213 bytes, 3 of padding), then
 * FCGI_END_REQUEST, with no empty FCGI_STDOUT record between them. */
static const char FPM_401[] =
	"\x01\x06\x00\x01\x00\xd5\x03\x00Status: 401 Unauthorized\x0d\x0a"
	"X-Powered-By: PHP/8.2.36\x0d\x0a"
	"WWW-Authenticate: Bearer resource_metadata=\"https://mcp.example/.well-"
	"known/oauth-protected-resource\"\x0d\x0a"
	"Content-Type: application/json\x0d\x0a"
	"\x0d\x0a"
	"{\"error\":\"unauthorized\"}\x00\x00\x00\x01\x03\x00\x01\x00\x08\x00\x00"
	"\x00\x00\x00\x00\x00\x00\x00\x00";

/* <?php header("Location: https://login.example/");
 * PHP turns it into Status: 302 Found itself; the END_REQUEST body's three
 * reserved bytes are junk ("ed-"). */
static const char FPM_302[] =
	"\x01\x06\x00\x01\x00y\x07\x00Status: 302 Found\x0d\x0a"
	"X-Powered-By: PHP/8.2.36\x0d\x0a"
	"Location: https://login.example/\x0d\x0a"
	"Content-type: text/html; charset=UTF-8\x0d\x0a"
	"\x0d\x0a"
	"\x00\x00\x00\x00\x00\x00\x00\x01\x03\x00\x01\x00\x08\x00\x00\x00\x00\x00"
	"\x00\x00" "ed-";

/* <?php echo "hi";  No Status field: 200. */
static const char FPM_200[] =
	"\x01\x06\x00\x01\x00" "F\x02\x00X-Powered-By: PHP/8.2.36\x0d\x0a"
	"Content-type: text/html; charset=UTF-8\x0d\x0a"
	"\x0d\x0a"
	"hi\x00\x00\x01\x03\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00\x00t-t";

/* An event stream in two writes (flush() between them):
 * <?php header("Content-Type: text/event-stream"); echo "event: message\n"; flush();
 * echo "data: {...\"wwwAuthenticate\":\"Bearer resource_metadata=\\\"https:\\/\\/...\"}}}\n\n"; */
static const char FPM_SSE_1[] =
	"\x01\x06\x00\x01\x00Z\x06\x00X-Powered-By: PHP/8.2.36\x0d\x0a"
	"Content-type: text/event-stream;charset=UTF-8\x0d\x0a"
	"\x0d\x0a"
	"event: message\x0a"
	"\x00\x00\x00\x00\x00\x00";
static const char FPM_SSE_2[] =
	"\x01\x06\x00\x01\x00\xaf\x01\x00" "data: {\"jsonrpc\":\"2.0\",\"id\":1,"
	"\"error\":{\"code\":-32001,\"data\":{\"wwwAuthenticate\":\"Bearer resou"
	"rce_metadata=\\\"https:\\/\\/mcp.example\\/.well-known\\/oauth-protecte"
	"d-resource\\\"\"}}}\x0a"
	"\x0a"
	"\x00\x01\x03\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00\x00{\"e";

#endif
