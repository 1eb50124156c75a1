#include "server/store/checker.h"

#include <sys/stat.h>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/errno_status.h"
#include "server/store/block_store.h"
#include "server/store/local_stores.h"
#include "server/store/meta_keys.h"
#include "server/store/rocks_meta_store.h"

namespace rbfs {
namespace {

struct InodeFacts {
  meta::InodeRecord record;
  uint64_t links_seen = 0;    // entries naming it
  uint64_t subdirs = 0;       // directory entries of type dir inside it
  uint64_t entries_seen = 0;  // entries inside it
  uint64_t blocks_seen = 0;
  // Its extended attributes found, and their name and value bytes.
  uint64_t xattrs_seen = 0;
  uint64_t xattr_name_bytes = 0;
  uint64_t xattr_value_bytes = 0;
  bool orphan = false;
};

}  // namespace

absl::StatusOr<CheckReport> CheckDataDir(const std::string& data_dir,
                                         const std::string& volume_path) {
  return CheckStores(RocksMetaStoreFactory(LocalMetaPath(data_dir)),
                     BlockStoreFactory(LocalVolumePath(data_dir, volume_path),
                                       BlockStore::Options()));
}

absl::StatusOr<CheckReport> CheckStores(const MetaStoreFactory& meta_factory,
                                        const BlockDeviceFactory& volume) {
  absl::StatusOr<bool> exists = meta_factory.Exists();
  if (!exists.ok()) return exists.status();
  if (!*exists) {
    return ErrnoError(ENOENT, absl::StrCat("no rbfs metadata store in ",
                                           meta_factory.location()));
  }
  // The metadata first: RocksDB's lock refuses the open while a server
  // runs, and opening an RBD volume would fence that server off its image.
  absl::StatusOr<std::unique_ptr<MetaStore>> meta = meta_factory.Open(nullptr);
  if (!meta.ok()) return meta.status();
  const MetaStore& store = **meta;
  absl::StatusOr<OpenedVolume> opened = volume.Open(/*may_format=*/false);
  if (!opened.ok()) return opened.status();
  const BlockDevice* blocks = opened->device.get();

  CheckReport report;
  auto problem = [&](std::string text) {
    report.problems.push_back(std::move(text));
  };
  absl::StatusOr<meta::Superblock> sb = store.GetSuperblock();
  if (!sb.ok()) return sb.status();
  if (sb->volume_id() != opened->volume_id ||
      sb->block_count() != blocks->block_count()) {
    problem("superblock does not match the volume header");
  }

  const uint64_t high_water =
      sb->high_water() == 0 ? sb->block_count() : sb->high_water();

  absl::flat_hash_map<uint64_t, InodeFacts> inodes;
  absl::Status scan = store.Scan(
      meta_keys::kInodes, meta_keys::kInodes,
      [&](absl::string_view key, absl::string_view v) {
        InodeFacts facts;
        uint64_t ino = meta_keys::DecodeU64(key);
        if (!facts.record.ParseFromArray(v.data(), v.size())) {
          problem(absl::StrCat("inode ", ino, ": unreadable record"));
        }
        inodes[ino] = std::move(facts);
        return true;
      });
  if (!scan.ok()) return scan;
  report.inodes = inodes.size();
  if (!inodes.contains(1) || !S_ISDIR(inodes[1].record.mode())) {
    problem("root directory (inode 1) is missing");
  }

  scan = store.ForEachOrphan([&](uint64_t ino, absl::string_view) {
    auto it = inodes.find(ino);
    if (it == inodes.end()) {
      problem(absl::StrCat("orphan record for missing inode ", ino));
    } else {
      it->second.orphan = true;
    }
    return true;
  });
  if (!scan.ok()) return scan;

  // By-name entries.
  absl::flat_hash_set<std::pair<uint64_t, uint64_t>> cookies_by_name;
  scan = store.Scan(
      meta_keys::kDirents, meta_keys::kDirents,
      [&](absl::string_view key, absl::string_view v) {
        ++report.entries;
        uint64_t parent = meta_keys::DecodeU64(key);
        std::string name(key.substr(8));
        meta::DirentRecord d;
        if (!d.ParseFromArray(v.data(), v.size())) {
          problem(absl::StrCat("entry ", parent, "/", name, ": unreadable"));
          return true;
        }
        auto dir = inodes.find(parent);
        if (dir == inodes.end() || !S_ISDIR(dir->second.record.mode())) {
          problem(absl::StrCat("entry ", parent, "/", name,
                               ": parent is not a live directory"));
        } else {
          ++dir->second.entries_seen;
          if (d.type() == S_IFDIR) ++dir->second.subdirs;
        }
        auto child = inodes.find(d.ino());
        if (child == inodes.end()) {
          problem(absl::StrCat("entry ", parent, "/", name,
                               ": dangling, inode ", d.ino(),
                               " does not exist"));
        } else {
          ++child->second.links_seen;
          if ((child->second.record.mode() & S_IFMT) != d.type()) {
            problem(absl::StrCat("entry ", parent, "/", name,
                                 ": type differs from its inode"));
          }
          if (d.type() == S_IFDIR && child->second.record.parent() != parent) {
            problem(absl::StrCat("directory ", d.ino(),
                                 ": parent pointer disagrees with its entry"));
          }
        }
        cookies_by_name.insert({parent, d.cookie()});
        // The readdir record: the first entry from this cookie on.
        bool readdir_record_matches = false;
        absl::Status listed = store.ForEachDirent(
            parent, d.cookie(), [&](const meta::DirentRecord& c) {
              readdir_record_matches = c.cookie() == d.cookie() &&
                                       c.name() == name && c.ino() == d.ino();
              return false;
            });
        if (!listed.ok() || !readdir_record_matches) {
          problem(absl::StrCat("entry ", parent, "/", name,
                               ": readdir record missing or different"));
        }
        return true;
      });
  if (!scan.ok()) return scan;
  scan = store.Scan(meta_keys::kCookies, meta_keys::kCookies,
                    [&](absl::string_view key, absl::string_view) {
                      uint64_t parent = meta_keys::DecodeU64(key);
                      uint64_t cookie = meta_keys::DecodeU64(key.substr(8));
                      if (!cookies_by_name.contains({parent, cookie})) {
                        problem(absl::StrCat("readdir record ", parent, "#",
                                             cookie, " has no entry"));
                      }
                      return true;
                    });
  if (!scan.ok()) return scan;

  // Block maps.
  absl::flat_hash_map<uint64_t, uint64_t> owner;  // block -> inode
  const uint32_t bs = blocks->block_size();
  scan = store.ForEachBlock([&](uint64_t ino, uint64_t index, uint64_t block) {
    ++report.blocks;
    if (block == 0 || block >= blocks->block_count()) {
      problem(absl::StrCat("inode ", ino, " block ", index, " maps to ", block,
                           ", outside the volume"));
    } else if (block >= high_water) {
      problem(absl::StrCat("inode ", ino, " block ", index, " maps to ", block,
                           ", above the high-water mark ", high_water));
    } else if (auto [it, inserted] = owner.insert({block, ino}); !inserted) {
      problem(absl::StrCat("block ", block, " owned twice: inodes ", it->second,
                           " and ", ino));
    }
    auto it = inodes.find(ino);
    if (it == inodes.end()) {
      problem(absl::StrCat("block map of missing inode ", ino,
                           " (leaked block ", block, ")"));
      return true;
    }
    ++it->second.blocks_seen;
    if (!S_ISREG(it->second.record.mode())) {
      problem(absl::StrCat("inode ", ino, " is not a file but maps blocks"));
    } else if (index * bs >= it->second.record.size()) {
      report.notes.push_back(absl::StrCat("inode ", ino, " block ", index,
                                          " lies past the end of file"));
    }
    return true;
  });
  if (!scan.ok()) return scan;

  scan = store.ForEachXattr(
      [&](uint64_t ino, absl::string_view name, absl::string_view value) {
        auto it = inodes.find(ino);
        if (it == inodes.end()) {
          problem(absl::StrCat("extended attribute ", name,
                               " of missing inode ", ino));
          return true;
        }
        ++it->second.xattrs_seen;
        it->second.xattr_name_bytes += name.size();
        it->second.xattr_value_bytes += value.size();
        return true;
      });
  if (!scan.ok()) return scan;

  for (const auto& [ino, f] : inodes) {
    const meta::InodeRecord& r = f.record;
    if (f.xattrs_seen != r.xattr_count() ||
        f.xattr_name_bytes != r.xattr_name_bytes() ||
        f.xattr_value_bytes != r.xattr_value_bytes()) {
      problem(absl::StrFormat(
          "inode %d: %d extended attributes of %d+%d bytes, record says "
          "%d of %d+%d",
          ino, f.xattrs_seen, f.xattr_name_bytes, f.xattr_value_bytes,
          r.xattr_count(), r.xattr_name_bytes(), r.xattr_value_bytes()));
    }
    if (f.blocks_seen != r.blocks_used()) {
      problem(absl::StrFormat("inode %d: %d blocks mapped, record says %d", ino,
                              f.blocks_seen, r.blocks_used()));
    }
    if (S_ISDIR(r.mode())) {
      if (f.entries_seen != r.entries()) {
        problem(absl::StrFormat("directory %d: %d entries, record says %d", ino,
                                f.entries_seen, r.entries()));
      }
      uint64_t want = r.nlink() == 0 ? 0 : 2 + f.subdirs;
      if (r.nlink() != want) {
        problem(absl::StrFormat("directory %d: nlink %d, expected %d", ino,
                                r.nlink(), want));
      }
    } else if (r.nlink() != f.links_seen) {
      problem(absl::StrFormat("inode %d: nlink %d but %d entries name it", ino,
                              r.nlink(), f.links_seen));
    }
    if (ino != 1 && f.links_seen == 0) {
      if (f.orphan && r.nlink() == 0) {
        report.notes.push_back(absl::StrCat(
            "inode ", ino, " is an orphan; the next start reclaims it"));
      } else {
        problem(absl::StrCat("inode ", ino,
                             " is reachable from no directory (leaked)"));
      }
    }
  }
  return report;
}

}  // namespace rbfs
