// Where everything lives inside a repository directory (see docs/repository.md).
#pragma once

#include <string>

#include "fs.hpp"

namespace bk::storage {

struct Layout {
	fs::path root;

	fs::path config() const { return root / "config"; }
	fs::path tmp() const { return root / "tmp"; }
	fs::path packs() const { return root / "packs"; }
	fs::path pack(const std::string &name) const { return packs() / name.substr(0, 2) / (name + ".pack"); }
	fs::path index() const { return root / "index"; }
	fs::path points() const { return root / "points"; }
	fs::path point(const std::string &id) const { return points() / (id + ".point"); }
	fs::path write_lock() const { return root / "locks" / "write"; }
	fs::path delete_lock() const { return root / "locks" / "delete"; }
};

} // namespace bk::storage
