// The seam between the repository format and where its objects live. Every file of a
// repository (config, packs, index segments, points, locks) is an object named by a key
// ("packs/ab/<id>.pack"); a backend stores them. LocalBackend keeps them as files of a
// directory, S3Backend as objects under a bucket prefix (docs/repository.md, "Backends").
//
// What the format relies on, and every backend guarantees:
//  - put() publishes a whole object atomically and durably: a reader (or a crash) sees
//    the old state or the complete new object, never a part of it;
//  - an object once put is immutable until removed (the format never rewrites a key
//    with other content, except locks and config's one-time format upgrade);
//  - list() after a completed put() or remove() sees its effect (read-after-write);
//  - remove() of a missing object succeeds; sync(dir) makes earlier removals under a
//    directory durable before what follows.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bk/storage/location.hpp"
#include "bk/storage/types.hpp"

namespace bk::storage {

struct ObjectEntry {
	std::string key;
	std::uint64_t size = 0;
};

// Random reads of one object; thread-safe.
class ObjectReader {
public:
	virtual ~ObjectReader() = default;
	virtual std::uint64_t size() = 0;
	// Reads exactly buf.size() bytes; an object too short is Errc::corrupt.
	virtual void read(std::span<std::uint8_t> buf, std::uint64_t offset) = 0;
};

// An object written piecewise (a pack). Nothing is visible under its key until commit();
// destroyed uncommitted, it leaves nothing behind.
class ObjectWriter {
public:
	virtual ~ObjectWriter() = default;
	virtual void append(ByteView data) = 0;
	virtual void commit() = 0;
};

// A held repository lock; released on destruction.
class RepoLock {
public:
	virtual ~RepoLock() = default;
	// Throws Errc::locked when the lock can no longer be vouched for (an S3 lease that
	// could not be renewed before it expired); called before publishing.
	virtual void check() const {}
};

enum class LockMode { shared, exclusive };

class Backend {
public:
	virtual ~Backend() = default;
	// The location as the user wrote it, and an object's name for messages.
	virtual std::string location() const = 0;
	virtual std::string where(const std::string &key) const = 0;

	// Prepares an empty location for a new repository; refuses a non-empty one.
	virtual void create() = 0;
	virtual void put(const std::string &key, ByteView data) = 0;
	// Errc::not_found when the object does not exist.
	virtual Bytes get(const std::string &key) = 0;
	virtual std::unique_ptr<ObjectReader> open(const std::string &key) = 0;
	virtual std::unique_ptr<ObjectWriter> create_object(const std::string &key) = 0;
	// Every object whose key starts with `dir` + "/", in no particular order.
	virtual std::vector<ObjectEntry> list(const std::string &dir) = 0;
	virtual void remove(const std::string &key) = 0;
	virtual void sync(const std::string &dir) = 0;
	// Removes what crashed writers left behind (temporary files, unfinished uploads).
	virtual void remove_leftovers() = 0;
	// Never blocks: throws Errc::locked when a conflicting holder exists.
	virtual std::unique_ptr<RepoLock> lock(const std::string &name, LockMode mode) = 0;
};

std::shared_ptr<Backend> open_backend(const std::string &location, const StorageOptions &options);
std::shared_ptr<Backend> make_local_backend(const std::string &dir);
std::shared_ptr<Backend> make_s3_backend(const std::string &location, const S3Options &options);

} // namespace bk::storage
