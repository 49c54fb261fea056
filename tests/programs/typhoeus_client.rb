# An unmodified Ruby program on Typhoeus (Ethon, over Ruby's FFI), for
# authtap's tests: FFI looks every libcurl function up with dlsym on the
# handle it opened, none is bound by the dynamic linker (GitHub issue 12).
#
#   ruby typhoeus_client.rb hydra|easy URL...
#
# hydra queues every URL on one Typhoeus::Hydra (curl_multi_*), easy runs
# each with Typhoeus::Request#run (curl_easy_perform).  Each transfer prints
# one line, in the order of the URLs, the same with and without the preload:
#
#   transfer api=multi result=ok status=401
require 'typhoeus'

mode = ARGV.shift
unless %w[hydra easy].include?(mode) && !ARGV.empty?
  warn 'usage: typhoeus_client.rb hydra|easy URL...'
  exit 2
end

options = { proxy: '', timeout: 20, nosignal: true }
requests = ARGV.map { |url| Typhoeus::Request.new(url, options) }
if mode == 'hydra'
  hydra = Typhoeus::Hydra.new(max_concurrency: 4)
  requests.each { |r| hydra.queue(r) }
  hydra.run
else
  requests.each(&:run)
end
api = mode == 'hydra' ? 'multi' : 'easy'
requests.each do |r|
  puts "transfer api=#{api} result=#{r.response.return_code} status=#{r.response.code}"
end
$stdout.flush
