// S3 requests over libcurl: SigV4 signing (CURLOPT_AWS_SIGV4), path-style or virtual-host
// addressing, retries with backoff, and S3's XML answers read with libxml2.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <libxml/tree.h>

#include "bk/storage/location.hpp"
#include "bk/storage/types.hpp"

namespace bk::storage {

struct S3Request {
	S3Request(const char *m, std::string k, std::string q = {}, ByteView b = {})
	    : method(m), key(std::move(k)), query(std::move(q)), body(b)
	{
	}
	const char *method; // GET PUT POST DELETE HEAD
	std::string key;    // the object's full key; "" for the bucket itself
	std::string query;  // canonical: parameters sorted, values escaped (query())
	ByteView body;
	std::string range; // "bytes=a-b" for a ranged GET
};

struct S3Response {
	long status = 0;
	Bytes body;
	std::string etag;
	std::uint64_t content_length = 0;
	std::string error_code() const; // <Code> of an S3 error document, "" if none
};

struct S3Credentials {
	std::string access_key, secret_key, session_token, region;
	std::string endpoint; // endpoint_url of the credentials file's profile
};

// From options.credentials_file (AWS shared-credentials format) or the environment.
S3Credentials load_credentials(const S3Options &options);

class S3Client {
public:
	S3Client(std::string bucket, const S3Options &options);

	// Sends with retries on transport errors, 5xx and 429; returns the last answer
	// (throws Errc::io when no answer came at all).
	S3Response send(const S3Request &request) const;
	// send(), then throws unless 2xx: Errc::not_found for 404, Errc::io otherwise.
	S3Response call(const S3Request &request, const std::string &what) const;
	const S3Options &options() const { return options_; }

private:
	std::string url(const S3Request &request) const;
	bool attempt(const S3Request &request, S3Response &out, std::string &failure) const;

	std::string bucket_;
	S3Options options_;
	S3Credentials creds_;
	std::string scheme_, host_; // of the endpoint
};

// "a=1&b=2" from name/value pairs, sorted by name and escaped as SigV4 requires.
std::string query(std::vector<std::pair<std::string, std::string>> params);

// A parsed XML document; text() and all() match elements by local name (namespaces are
// ignored: RGW and AWS differ in them).
class XmlDoc {
public:
	explicit XmlDoc(ByteView text); // Errc::io on malformed XML
	XmlDoc(const XmlDoc &) = delete;
	XmlDoc &operator=(const XmlDoc &) = delete;
	~XmlDoc();
	const xmlNode *root() const { return xmlDocGetRootElement(doc_); }
	// Direct children of `node` named `name`.
	static std::vector<const xmlNode *> all(const xmlNode *node, const char *name);
	// Text of the first child named `name`, "" if none.
	static std::string text(const xmlNode *node, const char *name);

private:
	xmlDoc *doc_;
};

} // namespace bk::storage
