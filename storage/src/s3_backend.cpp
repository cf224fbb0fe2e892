// The S3 backend: a repository as objects under s3://bucket/prefix. A PUT of a whole
// object is atomic on S3, so put() needs no temporary; packs over the part size go up as
// multipart uploads, their parts in parallel. Locks are lease objects (LeaseLock below;
// docs/repository.md, "Locks on S3").
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "backend.hpp"
#include "bk/storage/error.hpp"
#include "crypto.hpp"
#include "parallel.hpp"
#include "s3_client.hpp"

namespace bk::storage {

namespace {

using Clock = std::chrono::system_clock;

std::int64_t now_ms() { return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count(); }

class S3Backend;

// A writer lock on S3, without flock: every holder puts its own object
// locks/<name>/<random>.lock {owner, mode, expires}, then lists locks/<name>/. A live
// (unexpired) conflicting object of someone else means busy: the newcomer removes its own
// object and fails, so of two racing contenders at least one fails and never both win
// (S3 lists are read-after-write consistent). A thread renews the lease; a crashed
// holder's object expires and is then ignored (and removed) by the next contender.
class LeaseLock final : public RepoLock {
public:
	LeaseLock(S3Backend &store, const std::string &name, LockMode mode);
	LeaseLock(const LeaseLock &) = delete;
	LeaseLock &operator=(const LeaseLock &) = delete;
	~LeaseLock() override;
	void check() const override;

private:
	void write();
	void renew(const std::stop_token &stop);

	S3Backend &store_;
	std::string name_;
	std::string key_;
	LockMode mode_;
	std::string owner_;
	std::atomic<std::int64_t> valid_until_{0};
	std::mutex mutex_;
	std::condition_variable_any wake_;
	std::jthread renewer_;
};

class S3Reader final : public ObjectReader {
public:
	S3Reader(const S3Client &client, std::string key, std::string where)
	    : client_(client), key_(std::move(key)), where_(std::move(where))
	{
	}

	std::uint64_t size() override
	{
		std::lock_guard lock(mutex_);
		if (!size_)
			size_ = client_.call(S3Request("HEAD", key_), "HEAD " + where_).content_length;
		return *size_;
	}

	void read(std::span<std::uint8_t> buf, std::uint64_t offset) override
	{
		if (buf.empty())
			return;
		S3Request r("GET", key_);
		r.range = "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + buf.size() - 1);
		S3Response got = client_.send(r);
		if (got.status == 416 || ((got.status == 200 || got.status == 206) && got.body.size() < buf.size()))
			throw Error(Errc::corrupt, "unexpected end of object: " + where_);
		if (got.status != 200 && got.status != 206) {
			const std::string code = got.error_code();
			throw Error(got.status == 404 ? Errc::not_found : Errc::io,
				    "GET " + where_ + ": HTTP " + std::to_string(got.status) + (code.empty() ? "" : " " + code));
		}
		// A server that ignores Range answers 200 with the whole object.
		const std::size_t skip = got.status == 200 ? offset : 0;
		if (got.body.size() < skip + buf.size())
			throw Error(Errc::corrupt, "unexpected end of object: " + where_);
		std::copy_n(got.body.begin() + static_cast<std::ptrdiff_t>(skip), buf.size(), buf.begin());
	}

private:
	const S3Client &client_;
	std::string key_;
	std::string where_;
	std::mutex mutex_;
	std::optional<std::uint64_t> size_;
};

class S3Backend final : public Backend {
public:
	S3Backend(std::string location, std::string bucket, std::string prefix, const S3Options &options)
	    : location_(std::move(location)), prefix_(std::move(prefix)), client_(std::move(bucket), options)
	{
	}

	std::string location() const override { return location_; }
	std::string where(const std::string &key) const override { return location_ + "/" + key; }
	const S3Options &options() const { return client_.options(); }

	void create() override
	{
		if (!list_under(prefix_, 1).empty())
			throw Error(Errc::invalid_argument, "refusing to create a repository in non-empty " + location_);
	}

	void put(const std::string &key, ByteView data) override
	{
		if (data.size() > options().part_size)
			upload_multipart(key, data);
		else
			client_.call(S3Request("PUT", full(key), "", data), "PUT " + where(key));
	}

	Bytes get(const std::string &key) override
	{
		return std::move(client_.call(S3Request("GET", full(key)), "GET " + where(key)).body);
	}

	std::unique_ptr<ObjectReader> open(const std::string &key) override
	{
		return std::make_unique<S3Reader>(client_, full(key), where(key));
	}

	// A pack is at most kMaxPackSize and usually the configured pack size (32 MiB): it is
	// kept in memory and uploaded whole at commit, so nothing is visible before.
	class Writer final : public ObjectWriter {
	public:
		Writer(S3Backend &store, std::string key) : store_(store), key_(std::move(key)) {}
		void append(ByteView data) override { data_.insert(data_.end(), data.begin(), data.end()); }
		void commit() override { store_.put(key_, data_); }

	private:
		S3Backend &store_;
		std::string key_;
		Bytes data_;
	};

	std::unique_ptr<ObjectWriter> create_object(const std::string &key) override { return std::make_unique<Writer>(*this, key); }

	std::vector<ObjectEntry> list(const std::string &dir) override
	{
		std::vector<ObjectEntry> out = list_under(prefix_ + dir + "/", 0);
		for (ObjectEntry &e : out)
			e.key.erase(0, prefix_.size());
		return out;
	}

	void remove(const std::string &key) override
	{
		S3Response got = client_.send(S3Request("DELETE", full(key)));
		if (got.status != 404 && (got.status < 200 || got.status >= 300))
			throw Error(Errc::io, "DELETE " + where(key) + ": HTTP " + std::to_string(got.status) + " " + got.error_code());
	}

	void sync(const std::string &) override {} // a completed request is durable on S3

	// Unfinished multipart uploads of crashed writers (only prune calls this, under the
	// write lock, so no live upload is among them).
	void remove_leftovers() override
	{
		for (;;) {
			S3Response got = client_.call(S3Request("GET", "", query({{"prefix", prefix_}, {"uploads", ""}})),
						      "list uploads of " + location_);
			XmlDoc doc(got.body);
			std::vector<const xmlNode *> uploads = XmlDoc::all(doc.root(), "Upload");
			if (uploads.empty())
				return;
			for (const xmlNode *u : uploads)
				abort_upload(XmlDoc::text(u, "Key"), XmlDoc::text(u, "UploadId"));
		}
	}

	std::unique_ptr<RepoLock> lock(const std::string &name, LockMode mode) override
	{
		return std::make_unique<LeaseLock>(*this, name, mode);
	}

private:
	std::string full(const std::string &key) const { return prefix_ + key; }

	// ListObjectsV2 of everything under `prefix` (at most `limit` objects, 0 = all).
	std::vector<ObjectEntry> list_under(const std::string &prefix, std::size_t limit)
	{
		std::vector<ObjectEntry> out;
		std::string token;
		for (;;) {
			std::vector<std::pair<std::string, std::string>> params{{"list-type", "2"}, {"prefix", prefix}};
			if (!token.empty())
				params.emplace_back("continuation-token", token);
			if (limit)
				params.emplace_back("max-keys", std::to_string(limit));
			S3Response got = client_.call(S3Request("GET", "", query(params)), "list " + location_);
			XmlDoc doc(got.body);
			for (const xmlNode *c : XmlDoc::all(doc.root(), "Contents"))
				out.push_back({XmlDoc::text(c, "Key"), std::strtoull(XmlDoc::text(c, "Size").c_str(), nullptr, 10)});
			token = XmlDoc::text(doc.root(), "NextContinuationToken");
			if ((limit && out.size() >= limit) || XmlDoc::text(doc.root(), "IsTruncated") != "true" || token.empty())
				return out;
		}
	}

	void abort_upload(const std::string &full_key, const std::string &id)
	{
		S3Response got = client_.send(S3Request("DELETE", full_key, query({{"uploadId", id}})));
		if (got.status != 404 && (got.status < 200 || got.status >= 300))
			throw Error(Errc::io, "abort upload of " + full_key + ": HTTP " + std::to_string(got.status));
	}

	void upload_multipart(const std::string &key, ByteView data)
	{
		const std::string what = "upload " + where(key);
		S3Response init = client_.call(S3Request("POST", full(key), query({{"uploads", ""}})), what);
		const std::string id = XmlDoc::text(XmlDoc(init.body).root(), "UploadId");
		if (id.empty())
			throw Error(Errc::io, what + ": no UploadId in the answer");
		const std::uint64_t part = options().part_size;
		const std::uint64_t parts = (data.size() + part - 1) / part;
		std::vector<std::string> etags(parts);
		try {
			parallel_for(static_cast<unsigned>(std::min<std::uint64_t>(options().parallel_uploads, parts)), parts,
				     [&](std::uint64_t i) {
					     S3Request r("PUT", full(key));
					     r.query = query({{"partNumber", std::to_string(i + 1)}, {"uploadId", id}});
					     r.body = data.subspan(i * part, std::min<std::uint64_t>(part, data.size() - i * part));
					     etags[i] = client_.call(r, what + " part " + std::to_string(i + 1)).etag;
				     });
			std::string body = "<CompleteMultipartUpload>";
			for (std::uint64_t i = 0; i < parts; ++i)
				body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + etags[i] + "</ETag></Part>";
			body += "</CompleteMultipartUpload>";
			complete(key, id, ByteView(reinterpret_cast<const std::uint8_t *>(body.data()), body.size()), data.size());
		} catch (...) {
			try {
				abort_upload(full(key), id);
			} catch (const Error &) { // ignored: prune removes what is left
			}
			throw;
		}
	}

	void complete(const std::string &key, const std::string &id, ByteView body, std::uint64_t size)
	{
		const std::string what = "complete upload of " + where(key);
		S3Response got = client_.send(S3Request("POST", full(key), query({{"uploadId", id}}), body));
		// A retried completion whose first try succeeded finds no upload: the object decides.
		if (got.status == 404 && got.error_code() == "NoSuchUpload") {
			S3Response head = client_.send(S3Request("HEAD", full(key)));
			if (head.status == 200 && head.content_length == size)
				return;
		}
		// S3 may answer 200 with an error document.
		if (got.status != 200 || std::string(reinterpret_cast<const char *>(XmlDoc(got.body).root()->name)) == "Error")
			throw Error(Errc::io, what + ": HTTP " + std::to_string(got.status) + " " + got.error_code());
	}

	friend class LeaseLock;
	std::string location_;
	std::string prefix_; // "" or ending in "/"
	S3Client client_;
};

LeaseLock::LeaseLock(S3Backend &store, const std::string &name, LockMode mode)
    : store_(store), name_(name), key_("locks/" + name + "/" + random_hex(8) + ".lock"), mode_(mode)
{
	char host[256] = {};
	::gethostname(host, sizeof host - 1);
	owner_ = std::string(host) + " pid " + std::to_string(::getpid());
	write();
	std::string busy;
	for (const ObjectEntry &e : store_.list("locks/" + name_)) {
		if (e.key == key_)
			continue;
		nlohmann::json other;
		try {
			Bytes raw = store_.get(e.key);
			other = nlohmann::json::parse(raw.begin(), raw.end());
			if (other.at("expires").get<std::int64_t>() <= now_ms()) {
				store_.remove(e.key); // a crashed holder's
				continue;
			}
			if (mode_ == LockMode::exclusive || other.at("mode").get<std::string>() != "shared")
				busy = other.at("owner").get<std::string>();
		} catch (const Error &err) {
			if (err.code() != Errc::not_found) // released meanwhile
				throw;
		} catch (const nlohmann::json::exception &) {
			// ignored: not a lock object of ours
		}
		if (!busy.empty())
			break;
	}
	if (!busy.empty()) {
		store_.remove(key_);
		throw Error(Errc::locked, "repository is busy (" + name_ + " lock held by " + busy + ")");
	}
	renewer_ = std::jthread([this](const std::stop_token &stop) { renew(stop); });
}

LeaseLock::~LeaseLock()
{
	renewer_.request_stop();
	if (renewer_.joinable())
		renewer_.join();
	try {
		store_.remove(key_);
	} catch (const Error &) { // ignored: it expires
	}
}

void LeaseLock::write()
{
	const std::int64_t start = now_ms();
	const std::int64_t expires = start + std::chrono::duration_cast<std::chrono::milliseconds>(store_.options().lock_lease).count();
	const std::string body = nlohmann::json{
		{"owner", owner_},
		{"mode", mode_ == LockMode::exclusive ? "exclusive" : "shared"},
		{"expires", expires}}.dump();
	store_.put(key_, ByteView(reinterpret_cast<const std::uint8_t *>(body.data()), body.size()));
	valid_until_ = expires;
}

void LeaseLock::renew(const std::stop_token &stop)
{
	const auto period = store_.options().lock_lease / 3;
	std::unique_lock lock(mutex_);
	for (;;) {
		wake_.wait_for(lock, stop, period, [] { return false; });
		if (stop.stop_requested())
			return;
		try {
			write();
		} catch (const Error &) { // ignored: check() notices once the lease runs out
		}
	}
}

void LeaseLock::check() const
{
	if (now_ms() >= valid_until_)
		throw Error(Errc::locked, "lost the " + name_ + " lock: its lease could not be renewed");
}

} // namespace

std::shared_ptr<Backend> make_s3_backend(const std::string &location, const S3Options &options)
{
	// s3://bucket[/prefix]; keys are kept to characters that need no escaping.
	std::string rest = location.substr(5);
	while (rest.ends_with('/'))
		rest.pop_back();
	const auto slash = rest.find('/');
	const std::string bucket = rest.substr(0, slash);
	std::string prefix = slash == std::string::npos ? "" : rest.substr(slash + 1) + "/";
	const bool bucket_ok = !bucket.empty() && bucket.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-") == std::string::npos;
	const bool prefix_ok =
		prefix.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/") == std::string::npos &&
		prefix.find("//") == std::string::npos && !prefix.starts_with('/');
	if (!bucket_ok || !prefix_ok)
		throw Error(Errc::invalid_argument, "bad S3 location " + location + " (s3://bucket/prefix; letters, digits, . _ - /)");
	return std::make_shared<S3Backend>("s3://" + rest, bucket, prefix, options);
}

} // namespace bk::storage
