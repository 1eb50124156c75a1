#include "server/store/etcd_meta_store.h"

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/errno_status.h"
#include "server/store/etcd_client.h"
#include "server/store/meta_keys.h"

namespace rbfs {

using meta_keys::BlockKey;
using meta_keys::BlockPrefix;
using meta_keys::DecodeU64;
using meta_keys::PrefixEnd;

struct EtcdMetaStore::Client {
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
};

namespace {

// The reads a thread made inside MetaReadScopes, per store.
struct ThreadReads {
  int depth = 0;  // open scopes
  // Schema key -> its mod revision when first read (0: absent).
  absl::flat_hash_map<std::string, int64_t> revisions;
};
thread_local absl::flat_hash_map<const EtcdMetaStore*, ThreadReads>
    thread_reads;

// Reserving inode numbers retries a lost compare-and-swap this often: each
// loss means another server reserved meanwhile, so many in a row mean
// something else is wrong.
constexpr int kReserveAttempts = 100;

// The batch: the last change of each key, in key order, so that the Txn
// names every key once and runs of block deletes are adjacent.
class EtcdMetaBatch : public meta_keys::KeyValueMetaBatch {
 public:
  // nullopt: delete.
  const std::map<std::string, std::optional<std::string>>& changes() const {
    return changes_;
  }

 private:
  void Put(std::string key, std::string value) override {
    changes_[std::move(key)] = std::move(value);
  }
  void Delete(std::string key) override {
    changes_[std::move(key)] = std::nullopt;
  }

  std::map<std::string, std::optional<std::string>> changes_;
};

// Makes `txn` apply only if `key` still has mod revision `revision` (0: is
// still absent).
void RequireUnchanged(const std::string& key, int64_t revision,
                      etcdserverpb::TxnRequest* txn) {
  etcdserverpb::Compare* unchanged = txn->add_compare();
  unchanged->set_key(key);
  unchanged->set_target(etcdserverpb::Compare::MOD);
  unchanged->set_result(etcdserverpb::Compare::EQUAL);
  unchanged->set_mod_revision(revision);
}

}  // namespace

EtcdMetaStore::EtcdMetaStore(const EtcdOptions& options,
                             std::unique_ptr<Client> client,
                             std::function<absl::Status()> before_flush)
    : prefix_(EtcdKeyPrefix(options.prefix)),
      fence_key_(prefix_ + (options.fence_key.empty()
                                ? std::string(meta_keys::kServingLock)
                                : options.fence_key)),
      fence_revision_(options.fence_revision),
      own_commits_(options.own_commits),
      op_timeout_(options.op_timeout),
      page_keys_(options.page_keys > 0 ? options.page_keys
                                       : EtcdOptions::kDefaultPageKeys),
      client_(std::move(client)),
      before_flush_(std::move(before_flush)) {}

EtcdMetaStore::~EtcdMetaStore() = default;

absl::StatusOr<std::unique_ptr<EtcdMetaStore>> EtcdMetaStore::Open(
    const EtcdOptions& options, std::function<absl::Status()> before_flush) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = EtcdChannel(options);
  if (!channel.ok()) return channel.status();
  auto client = std::make_unique<Client>();
  client->kv = etcdserverpb::KV::NewStub(*channel);
  return std::unique_ptr<EtcdMetaStore>(
      new EtcdMetaStore(options, std::move(client), std::move(before_flush)));
}

void EtcdMetaStore::BeginReads() { ++thread_reads[this].depth; }

void EtcdMetaStore::EndReads() {
  auto it = thread_reads.find(this);
  if (it != thread_reads.end() && --it->second.depth <= 0) {
    thread_reads.erase(it);
  }
}

absl::StatusOr<std::string> EtcdMetaStore::Get(const std::string& key) const {
  int64_t revision = 0;
  absl::StatusOr<std::string> value = GetAt(key, &revision);
  if (value.ok() || absl::IsNotFound(value.status())) {
    if (auto it = thread_reads.find(this); it != thread_reads.end()) {
      it->second.revisions.emplace(key, revision);
    }
  }
  return value;
}

absl::StatusOr<std::string> EtcdMetaStore::GetAt(const std::string& key,
                                                 int64_t* revision) const {
  *revision = 0;
  etcdserverpb::RangeRequest request;
  request.set_key(prefix_ + key);
  etcdserverpb::RangeResponse response;
  if (absl::Status s = EtcdRange(*client_->kv, op_timeout_, request, &response);
      !s.ok()) {
    return s;
  }
  if (response.kvs_size() == 0) {
    return absl::NotFoundError("no such metadata record");
  }
  *revision = response.kvs(0).mod_revision();
  return std::move(*response.mutable_kvs(0)->mutable_value());
}

absl::StatusOr<bool> EtcdMetaStore::HasSuperblock() const {
  absl::StatusOr<std::string> sb = Get(std::string(meta_keys::kSuperblock));
  if (absl::IsNotFound(sb.status())) return false;
  if (!sb.ok()) return sb.status();
  return true;
}

absl::Status EtcdMetaStore::Scan(
    absl::string_view prefix, absl::string_view start,
    const std::function<bool(absl::string_view, absl::string_view)>& fn) const {
  const std::string full_prefix = absl::StrCat(prefix_, prefix);
  return ScanRange(absl::StrCat(prefix_, start), PrefixEnd(full_prefix),
                   full_prefix, fn);
}

absl::Status EtcdMetaStore::ScanRange(
    std::string from, const std::string& end, absl::string_view strip,
    const std::function<bool(absl::string_view, absl::string_view)>& fn) const {
  int64_t revision = 0;  // of the first page, for every later one
  for (;;) {
    etcdserverpb::RangeRequest request;
    request.set_key(from);
    request.set_range_end(end);
    request.set_limit(page_keys_);
    request.set_revision(revision);
    etcdserverpb::RangeResponse response;
    if (absl::Status s =
            EtcdRange(*client_->kv, op_timeout_, request, &response);
        !s.ok()) {
      return s;
    }
    if (revision == 0) revision = response.header().revision();
    for (const mvccpb::KeyValue& kv : response.kvs()) {
      absl::string_view key = kv.key();
      if (!absl::ConsumePrefix(&key, strip)) continue;
      if (!fn(key, kv.value())) return absl::OkStatus();
    }
    if (!response.more() || response.kvs_size() == 0) return absl::OkStatus();
    from = response.kvs(response.kvs_size() - 1).key();
    from.push_back('\0');
  }
}

absl::StatusOr<std::vector<uint64_t>> EtcdMetaStore::GetBlocks(
    uint64_t ino, uint64_t first, uint64_t count) const {
  std::vector<uint64_t> blocks(count, 0);
  if (count == 0) return blocks;
  const std::string strip = prefix_ + BlockPrefix(ino);
  absl::Status scan = ScanRange(
      prefix_ + BlockKey(ino, first), prefix_ + BlockKey(ino, first + count),
      strip, [&](absl::string_view key, absl::string_view value) {
        blocks[DecodeU64(key) - first] = DecodeU64(value);
        return true;
      });
  if (!scan.ok()) return scan;
  return blocks;
}

std::unique_ptr<MetaBatch> EtcdMetaStore::NewBatch() {
  return std::make_unique<EtcdMetaBatch>();
}

absl::Status EtcdMetaStore::Commit(MetaBatch* batch) {
  const auto& changes = static_cast<EtcdMetaBatch*>(batch)->changes();
  etcdserverpb::TxnRequest txn;
  // The reads this commit stands on; the next commit of the operation
  // stands on those made after this one.
  if (auto it = thread_reads.find(this); it != thread_reads.end()) {
    for (const auto& [key, revision] : it->second.revisions) {
      RequireUnchanged(prefix_ + key, revision, &txn);
    }
    it->second.revisions.clear();
  }
  if (changes.empty()) return absl::OkStatus();
  AddServingFence(fence_key_, fence_revision_, &txn);
  bool maps_blocks = false;
  // A run of deleted block map entries of one inode at consecutive indexes,
  // from run_key to run_last: one DeleteRange when it ends.
  std::string run_key;
  uint64_t run_ino = 0;
  uint64_t run_last = 0;
  auto end_run = [&] {
    if (run_key.empty()) return;
    etcdserverpb::DeleteRangeRequest* del =
        txn.add_success()->mutable_request_delete_range();
    del->set_key(prefix_ + run_key);
    // Block keys have one length, so nothing lies between the last one and
    // it with a zero byte appended.
    std::string last_key = prefix_ + BlockKey(run_ino, run_last);
    if (last_key != del->key()) {
      last_key.push_back('\0');
      del->set_range_end(std::move(last_key));
    }
    run_key.clear();
  };
  for (const auto& [key, value] : changes) {
    uint64_t ino = 0;
    uint64_t index = 0;
    const bool block = meta_keys::ParseBlockKey(key, &ino, &index);
    if (value.has_value()) {
      end_run();
      maps_blocks = maps_blocks || block;
      etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
      put->set_key(prefix_ + key);
      put->set_value(*value);
      continue;
    }
    if (block) {
      if (!run_key.empty() && ino == run_ino && index == run_last + 1) {
        run_last = index;
        continue;
      }
      end_run();
      run_key = key;
      run_ino = ino;
      run_last = index;
      continue;
    }
    end_run();
    txn.add_success()->mutable_request_delete_range()->set_key(prefix_ + key);
  }
  end_run();
  if (maps_blocks && before_flush_) {
    if (absl::Status s = before_flush_(); !s.ok()) return s;
  }
  etcdserverpb::TxnResponse response;
  std::unique_ptr<grpc::ClientContext> context = EtcdCallContext(op_timeout_);
  const uint64_t ticket = own_commits_ != nullptr ? own_commits_->Begin() : 0;
  const grpc::Status status = client_->kv->Txn(context.get(), txn, &response);
  if (own_commits_ != nullptr) {
    own_commits_->End(ticket, status.ok() && response.succeeded()
                                  ? response.header().revision()
                                  : 0);
  }
  if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    return ErrnoError(
        EIO,
        absl::StrCat("etcd refused a metadata batch of ", txn.success_size(),
                     " operations (", txn.ByteSizeLong(),
                     " bytes): ", status.error_message(),
                     "; see etcd's --max-txn-ops and "
                     "--max-request-bytes in docs/operations.md"));
  }
  if (absl::Status s = EtcdStatus(status, "txn"); !s.ok()) return s;
  if (FailedOnServingFence(fence_revision_, response)) return Fenced();
  if (!response.succeeded()) {
    return absl::AbortedError(
        "a record this operation read was changed by another server");
  }
  return absl::OkStatus();
}

absl::Status EtcdMetaStore::Fenced() const {
  return ErrnoError(EIO, absl::StrCat("this server no longer serves ", prefix_,
                                      ": its lease ended, so another server "
                                      "may serve it now"));
}

absl::StatusOr<uint64_t> EtcdMetaStore::ReserveInodes(uint64_t floor,
                                                      uint64_t count) {
  const std::string key(meta_keys::kInodeCounter);
  for (int attempt = 0; attempt < kReserveAttempts; ++attempt) {
    int64_t revision = 0;
    absl::StatusOr<std::string> value = GetAt(key, &revision);
    if (!value.ok() && !absl::IsNotFound(value.status())) {
      return value.status();
    }
    const uint64_t first =
        std::max(floor, value.ok() ? DecodeU64(*value) : uint64_t{0});
    etcdserverpb::TxnRequest txn;
    RequireUnchanged(prefix_ + key, revision, &txn);
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(prefix_ + key);
    put->set_value(meta_keys::EncodeU64(first + count));
    AddServingFence(fence_key_, fence_revision_, &txn);
    etcdserverpb::TxnResponse response;
    if (absl::Status s = EtcdTxn(*client_->kv, op_timeout_, txn, &response,
                                 "reserve inodes");
        !s.ok()) {
      return s;
    }
    if (response.succeeded()) return first;
    if (FailedOnServingFence(fence_revision_, response)) return Fenced();
  }
  return ErrnoError(EIO, absl::StrCat("could not reserve inode numbers in ",
                                      kReserveAttempts, " attempts"));
}

absl::Status EtcdMetaStore::Sync() { return absl::OkStatus(); }

absl::StatusOr<bool> EtcdMetaStoreFactory::Exists() const {
  absl::StatusOr<std::unique_ptr<EtcdMetaStore>> store =
      EtcdMetaStore::Open(options_, nullptr);
  if (!store.ok()) return store.status();
  return (*store)->HasSuperblock();
}

absl::StatusOr<std::unique_ptr<MetaStore>> EtcdMetaStoreFactory::Open(
    std::function<absl::Status()> before_flush) const {
  absl::StatusOr<std::unique_ptr<EtcdMetaStore>> store =
      EtcdMetaStore::Open(options_, std::move(before_flush));
  if (!store.ok()) return store.status();
  return std::unique_ptr<MetaStore>(*std::move(store));
}

std::string EtcdMetaStoreFactory::location() const {
  return absl::StrCat("etcd ", absl::StrJoin(options_.endpoints, ","), " ",
                      EtcdKeyPrefix(options_.prefix));
}

}  // namespace rbfs
