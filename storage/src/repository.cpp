#include "bk/storage/repository.hpp"

#include <algorithm>
#include <bit>

#include "bk/storage/error.hpp"
#include "fs.hpp"
#include "manifest.hpp"
#include "operations.hpp"

namespace bk::storage {

namespace {

void check_options(const InitOptions &o)
{
	auto fail = [](const std::string &what) { throw Error(Errc::invalid_argument, what); };
	if (!valid_chunk_size(o.chunk_size))
		fail("chunk size must be a power of two from 64 KiB to 64 MiB");
	if (o.pack_size < o.chunk_size || o.pack_size > kMaxPackSize)
		fail("pack size must be at least one chunk and at most 4 GiB");
	if (o.zstd_level < kMinZstdLevel || o.zstd_level > kMaxZstdLevel)
		fail("zstd level must be 1..19");
	if (o.encrypted && o.passphrase.empty())
		fail("an encrypted repository needs a passphrase");
	if (o.encrypted && (!std::has_single_bit(o.scrypt_n) || o.scrypt_n < 2 || o.scrypt_n > kMaxScryptN))
		fail("scrypt N must be a power of two up to 2^20");
}

// Readers (points, restore, verify, open_point) exclude only prune.
std::unique_ptr<RepoLock> reader_lock(const detail::RepoState &repo)
{
	return repo.layout.store().lock(Layout::kDeleteLock, LockMode::shared);
}

} // namespace

Repository::Repository(std::shared_ptr<detail::RepoState> state) : state_(std::move(state)) {}
Repository::Repository(Repository &&) noexcept = default;
Repository &Repository::operator=(Repository &&) noexcept = default;
Repository::~Repository() = default;

Repository Repository::init(const fs::path &location, const InitOptions &options, const StorageOptions &storage)
{
	check_options(options);
	Layout layout{open_backend(location.string(), storage)};
	layout.store().create();

	RepoConfig config;
	config.repo_id = random_hex(16);
	config.chunk_size = options.chunk_size;
	config.pack_size = options.pack_size;
	config.zstd_level = options.zstd_level;
	config.encrypted = options.encrypted;
	config.kdf.n = options.scrypt_n;
	MasterKey key = create_master_key(config, options.passphrase);
	save_config(layout, config); // last: its presence marks a complete repository
	return Repository(std::make_shared<detail::RepoState>(detail::RepoState{layout, config, Crypto(key, config.encrypted)}));
}

Repository Repository::open(const fs::path &location, const std::string &passphrase, const StorageOptions &storage)
{
	Layout layout{open_backend(location.string(), storage)};
	RepoConfig config = load_config(layout);
	MasterKey key = unlock_master_key(config, passphrase);
	return Repository(std::make_shared<detail::RepoState>(detail::RepoState{layout, config, Crypto(key, config.encrypted)}));
}

std::uint32_t Repository::chunk_size() const { return state_->config.chunk_size; }

bool Repository::encrypted() const { return state_->config.encrypted; }

std::vector<PointInfo> Repository::points() const
{
	const auto lock = reader_lock(*state_);
	std::vector<PointInfo> out;
	for (const std::string &id : list_point_ids(state_->layout))
		out.push_back(read_point_info(state_->layout, state_->crypto, id));
	std::sort(out.begin(), out.end(), older);
	return out;
}

PointInfo Repository::point(const std::string &prefix, const std::optional<std::string> &host) const
{
	const auto lock = reader_lock(*state_);
	std::vector<PointInfo> match;
	for (const std::string &id : list_point_ids(state_->layout)) {
		if (prefix.empty() || !id.starts_with(prefix))
			continue;
		PointInfo p = read_point_info(state_->layout, state_->crypto, id);
		if (!host || p.host == *host)
			match.push_back(std::move(p));
	}
	const std::string of_host = host ? " of host " + (host->empty() ? std::string("(none)") : *host) : "";
	if (match.empty())
		throw Error(Errc::not_found, "no restore point " + prefix + of_host);
	if (match.size() > 1)
		throw Error(Errc::invalid_argument, "restore point prefix " + prefix + " is ambiguous" + of_host);
	return match.front();
}

BackupWriter Repository::begin_backup(const BackupRequest &request) { return BackupWriter(state_, request); }

RestoreStats Repository::restore(const std::string &id, const fs::path &target, const RestoreOptions &options)
{
	const auto lock = reader_lock(*state_);
	return detail::restore_point(*state_, id, target, options);
}

PointReader Repository::open_point(const std::string &id, const PointReaderOptions &options) const
{
	return detail::open_point(state_, id, options);
}

VerifyReport Repository::verify(const VerifyOptions &options)
{
	const auto lock = reader_lock(*state_);
	return detail::verify_repository(*state_, options);
}

PruneReport Repository::prune(const PruneOptions &options) { return detail::prune_repository(*state_, options); }

PointInfo backup_fd(Repository &repo, BackupRequest request, int fd, const std::vector<std::uint64_t> *changed)
{
	if (changed && request.base.empty())
		throw Error(Errc::invalid_argument, "an incremental backup needs a base point");
	const std::uint64_t cs = repo.chunk_size();
	const std::uint64_t count = chunk_count(request.size, repo.chunk_size());
	if (request.expected_bytes == 0) {
		request.expected_bytes = request.size;
		if (changed) {
			request.expected_bytes = 0;
			for (std::uint64_t i : *changed)
				request.expected_bytes += i < count ? std::min(cs, request.size - i * cs) : 0;
		}
	}
	BackupWriter writer = repo.begin_backup(request);
	auto read_chunk = [&](std::uint64_t i) {
		Bytes data = writer.buffer();
		data.resize(writer.chunk_length(i));
		pread_exact(fd, data, i * cs, "backup source");
		writer.put(i, std::move(data));
	};
	if (changed) {
		for (std::uint64_t i : *changed)
			read_chunk(i);
	} else {
		for (std::uint64_t i = 0; i < count; ++i)
			read_chunk(i);
	}
	return writer.commit();
}

} // namespace bk::storage
