// Where everything lives inside a repository (see docs/repository.md): the keys of its
// objects, and the backend that stores them.
#pragma once

#include <memory>
#include <string>

#include "backend.hpp"

namespace bk::storage {

struct Layout {
	std::shared_ptr<Backend> backend;

	Backend &store() const { return *backend; }
	static std::string config() { return "config"; }
	static std::string packs() { return "packs"; }
	static std::string pack(const std::string &name) { return packs() + "/" + name.substr(0, 2) + "/" + name + ".pack"; }
	static std::string index() { return "index"; }
	static std::string points() { return "points"; }
	static std::string point(const std::string &id) { return points() + "/" + id + ".point"; }
	static constexpr const char *kWriteLock = "write";
	static constexpr const char *kDeleteLock = "delete";
};

} // namespace bk::storage
