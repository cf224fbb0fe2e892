#include "s3_client.hpp"

#include <curl/curl.h>
#include <libxml/parser.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "bk/storage/error.hpp"
#include "crypto.hpp"

namespace bk::storage {

namespace {

std::string env(const char *name)
{
	const char *v = std::getenv(name);
	return v ? v : "";
}

std::string trim(const std::string &s)
{
	const auto b = s.find_first_not_of(" \t\r\n");
	const auto e = s.find_last_not_of(" \t\r\n");
	return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// SigV4 signs the payload's sha256 (x-amz-content-sha256); RGW requires the header.
std::string sha256_hex(ByteView data)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1)
		throw Error(Errc::io, "sha256 failed");
	return to_hex(ByteView(md, len));
}

struct CurlDeleter {
	void operator()(CURL *c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
	void operator()(curl_slist *l) const { curl_slist_free_all(l); }
};

// One handle per thread, kept so its connections are reused.
CURL *thread_handle()
{
	static const bool initialized = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
	if (!initialized)
		throw Error(Errc::io, "curl_global_init failed");
	thread_local std::unique_ptr<CURL, CurlDeleter> handle(curl_easy_init());
	if (!handle)
		throw Error(Errc::io, "curl_easy_init failed");
	curl_easy_reset(handle.get());
	return handle.get();
}

std::size_t on_body(char *data, std::size_t size, std::size_t n, void *user)
{
	auto *out = static_cast<Bytes *>(user);
	out->insert(out->end(), reinterpret_cast<std::uint8_t *>(data), reinterpret_cast<std::uint8_t *>(data) + size * n);
	return size * n;
}

std::size_t on_header(char *data, std::size_t size, std::size_t n, void *user)
{
	auto *out = static_cast<S3Response *>(user);
	std::string line(data, size * n);
	const auto colon = line.find(':');
	if (colon != std::string::npos) {
		std::string name = line.substr(0, colon);
		for (char &c : name)
			c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
		const std::string value = trim(line.substr(colon + 1));
		if (name == "etag")
			out->etag = value;
		else if (name == "content-length")
			out->content_length = std::strtoull(value.c_str(), nullptr, 10);
	}
	return size * n;
}

bool retryable_status(long status) { return status >= 500 || status == 429 || status == 408; }

} // namespace

S3Credentials load_credentials(const S3Options &o)
{
	S3Credentials c;
	if (!o.credentials_file.empty()) {
		std::ifstream in(o.credentials_file);
		if (!in)
			throw Error(Errc::not_found, "cannot read S3 credentials file " + o.credentials_file);
		const std::string profile = !o.profile.empty() ? o.profile : !env("AWS_PROFILE").empty() ? env("AWS_PROFILE") : "default";
		std::string line, section;
		while (std::getline(in, line)) {
			line = trim(line);
			if (line.starts_with('[') && line.ends_with(']')) {
				section = trim(line.substr(1, line.size() - 2));
				continue;
			}
			const auto eq = line.find('=');
			if (section != profile || eq == std::string::npos)
				continue;
			const std::string name = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
			if (name == "aws_access_key_id")
				c.access_key = value;
			else if (name == "aws_secret_access_key")
				c.secret_key = value;
			else if (name == "aws_session_token")
				c.session_token = value;
			else if (name == "region")
				c.region = value;
			else if (name == "endpoint_url")
				c.endpoint = value;
		}
		if (c.access_key.empty() || c.secret_key.empty())
			throw Error(Errc::invalid_argument,
				    "no aws_access_key_id/aws_secret_access_key for profile [" + profile + "] in " + o.credentials_file);
	} else {
		c.access_key = env("AWS_ACCESS_KEY_ID");
		c.secret_key = env("AWS_SECRET_ACCESS_KEY");
		c.session_token = env("AWS_SESSION_TOKEN");
		if (c.access_key.empty() || c.secret_key.empty())
			throw Error(Errc::invalid_argument,
				    "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give a credentials file");
	}
	if (!o.region.empty())
		c.region = o.region;
	if (c.region.empty())
		c.region = env("AWS_REGION");
	if (c.region.empty())
		c.region = "us-east-1";
	return c;
}

std::string query(std::vector<std::pair<std::string, std::string>> params)
{
	std::sort(params.begin(), params.end());
	std::string q;
	for (const auto &[name, value] : params) {
		char *escaped = curl_easy_escape(nullptr, value.c_str(), static_cast<int>(value.size()));
		if (!escaped)
			throw Error(Errc::io, "curl_easy_escape failed");
		q += (q.empty() ? "" : "&") + name + "=" + escaped;
		curl_free(escaped);
	}
	return q;
}

std::string S3Response::error_code() const
{
	if (body.empty())
		return "";
	try {
		XmlDoc doc(body);
		return XmlDoc::text(doc.root(), "Code");
	} catch (const Error &) {
		return "";
	}
}

S3Client::S3Client(std::string bucket, const S3Options &options)
    : bucket_(std::move(bucket)), options_(options), creds_(load_credentials(options))
{
	if (options_.endpoint.empty())
		options_.endpoint = creds_.endpoint;
	if (options_.endpoint.empty())
		throw Error(Errc::invalid_argument, "an s3:// repository needs an endpoint (--s3-endpoint)");
	const auto sep = options_.endpoint.find("://");
	if (sep == std::string::npos)
		throw Error(Errc::invalid_argument, "S3 endpoint must be http://host[:port] or https://host[:port]");
	scheme_ = options_.endpoint.substr(0, sep);
	host_ = options_.endpoint.substr(sep + 3);
	while (host_.ends_with('/'))
		host_.pop_back();
	if ((scheme_ != "http" && scheme_ != "https") || host_.empty() || host_.find('/') != std::string::npos)
		throw Error(Errc::invalid_argument, "S3 endpoint must be http://host[:port] or https://host[:port]");
	if (options_.attempts == 0 || options_.parallel_uploads == 0)
		throw Error(Errc::invalid_argument, "S3 attempts and parallel uploads must be at least 1");
	// Every part but the last must be at least 5 MiB (S3's rule, RGW enforces it too).
	if (options_.part_size < (5u << 20))
		throw Error(Errc::invalid_argument, "S3 part size must be at least 5 MiB");
}

std::string S3Client::url(const S3Request &r) const
{
	std::string u = options_.virtual_host ? scheme_ + "://" + bucket_ + "." + host_ + "/" + r.key
					      : scheme_ + "://" + host_ + "/" + bucket_ + (r.key.empty() ? "" : "/" + r.key);
	return r.query.empty() ? u : u + "?" + r.query;
}

// One try: false with `failure` set when it is worth another (no answer, 5xx, 429).
bool S3Client::attempt(const S3Request &r, S3Response &out, std::string &failure) const
{
	out = S3Response{};
	CURL *h = thread_handle();
	std::unique_ptr<curl_slist, SlistDeleter> headers;
	auto add = [&](const std::string &line) {
		curl_slist *l = curl_slist_append(headers.get(), line.c_str());
		if (!l)
			throw Error(Errc::io, "out of memory");
		(void)headers.release();
		headers.reset(l);
	};
	add("x-amz-content-sha256: " + sha256_hex(r.body));
	if (!creds_.session_token.empty())
		add("x-amz-security-token: " + creds_.session_token);
	if (!r.range.empty())
		add("Range: " + r.range);
	const std::string u = url(r);
	const std::string sigv4 = "aws:amz:" + creds_.region + ":s3";
	const std::string user = creds_.access_key + ":" + creds_.secret_key;
	curl_easy_setopt(h, CURLOPT_URL, u.c_str());
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4.c_str());
	curl_easy_setopt(h, CURLOPT_USERPWD, user.c_str());
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
	if (!options_.ca_file.empty())
		curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	// No total timeout (a pack may be large): a transfer stalled for 60 s is cut.
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &out.body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &out);
	const std::string method = r.method;
	if (method == "HEAD") {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (method == "PUT" || method == "POST") {
		add("Content-Type: application/octet-stream");
		static const char empty[1] = {};
		// A null POSTFIELDS would make curl read the body from stdin.
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r.body.empty() ? empty : reinterpret_cast<const char *>(r.body.data()));
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r.method);
	} else if (method != "GET") {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r.method);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
	curl_easy_setopt(h, CURLOPT_VERBOSE, std::getenv("BK_S3_DEBUG") ? 1L : 0L);
	const CURLcode rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		failure = std::string(curl_easy_strerror(rc));
		// A TLS verification failure is not transient.
		if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_URL_MALFORMAT)
			throw Error(Errc::io, r.method + std::string(" ") + u + ": " + failure);
		return false;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
	if (retryable_status(out.status)) {
		failure = "HTTP " + std::to_string(out.status) + " " + out.error_code();
		return false;
	}
	return true;
}

S3Response S3Client::send(const S3Request &r) const
{
	thread_local std::mt19937 jitter(std::random_device{}());
	S3Response out;
	std::string failure;
	auto delay = std::chrono::milliseconds(200);
	for (unsigned i = 1;; ++i) {
		if (attempt(r, out, failure))
			return out;
		if (i == options_.attempts)
			break;
		// Every request is idempotent (whole-object PUTs of immutable content, parts,
		// DELETE), so any of them may be sent again.
		std::this_thread::sleep_for(delay + std::chrono::milliseconds(jitter() % (delay.count() / 2 + 1)));
		delay = std::min(delay * 2, std::chrono::milliseconds(10000));
	}
	if (out.status != 0)
		return out;
	throw Error(Errc::io,
		    std::string(r.method) + " " + url(r) + ": " + failure + " (after " + std::to_string(options_.attempts) + " attempts)");
}

S3Response S3Client::call(const S3Request &r, const std::string &what) const
{
	S3Response out = send(r);
	if (out.status >= 200 && out.status < 300)
		return out;
	const std::string code = out.error_code();
	const std::string msg = what + ": HTTP " + std::to_string(out.status) + (code.empty() ? "" : " " + code);
	throw Error(out.status == 404 ? Errc::not_found : Errc::io, msg);
}

XmlDoc::XmlDoc(ByteView text)
    : doc_(xmlReadMemory(reinterpret_cast<const char *>(text.data()), static_cast<int>(text.size()), nullptr, nullptr,
			 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING))
{
	if (!doc_ || !xmlDocGetRootElement(doc_)) {
		xmlFreeDoc(doc_);
		throw Error(Errc::io, "malformed XML answer from S3");
	}
}

XmlDoc::~XmlDoc() { xmlFreeDoc(doc_); }

std::vector<const xmlNode *> XmlDoc::all(const xmlNode *node, const char *name)
{
	std::vector<const xmlNode *> out;
	for (const xmlNode *c = node ? node->children : nullptr; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && std::strcmp(reinterpret_cast<const char *>(c->name), name) == 0)
			out.push_back(c);
	return out;
}

std::string XmlDoc::text(const xmlNode *node, const char *name)
{
	std::vector<const xmlNode *> found = all(node, name);
	if (found.empty())
		return "";
	xmlChar *content = xmlNodeGetContent(found.front());
	std::string s = content ? reinterpret_cast<const char *>(content) : "";
	xmlFree(content);
	return s;
}

} // namespace bk::storage
