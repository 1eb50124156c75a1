#include "server/store/etcd_shared_volume.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "server/store/etcd_client.h"
#include "server/store/meta_keys.h"

namespace rbfs {

struct EtcdSharedVolume::Client {
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
};

namespace {

// Between attempts to resume a broken watch.
constexpr absl::Duration kResumeDelay = absl::Milliseconds(200);

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdSharedVolume>> EtcdSharedVolume::Open(
    Options options) {
  if (options.lease == 0 || options.etcd.fence_revision == 0) {
    return ErrnoError(EINVAL, "a shared volume needs a membership");
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      EtcdChannel(options.etcd);
  if (!channel.ok()) return channel.status();
  auto client = std::make_unique<Client>();
  client->kv = etcdserverpb::KV::NewStub(*channel);
  client->watch = etcdserverpb::Watch::NewStub(*channel);
  return std::unique_ptr<EtcdSharedVolume>(
      new EtcdSharedVolume(std::move(options), std::move(client)));
}

EtcdSharedVolume::EtcdSharedVolume(Options options,
                                   std::unique_ptr<Client> client)
    : options_(std::move(options)),
      prefix_(EtcdKeyPrefix(options_.etcd.prefix)),
      member_(meta_keys::MemberKey(options_.lease)),
      client_(std::move(client)) {}

EtcdSharedVolume::~EtcdSharedVolume() { Stop(); }

absl::Status EtcdSharedVolume::Follow(BlockListener on_block) {
  // The snapshot: every block map entry, page by page at the revision of
  // the first page.
  const std::string blocks = prefix_ + std::string(meta_keys::kBlocks);
  const std::string end = meta_keys::PrefixEnd(blocks);
  std::string from = blocks;
  int64_t revision = 0;
  for (;;) {
    etcdserverpb::RangeRequest read;
    read.set_key(from);
    read.set_range_end(end);
    read.set_limit(options_.etcd.page_keys > 0 ? options_.etcd.page_keys
                                               : EtcdOptions::kDefaultPageKeys);
    read.set_revision(revision);
    etcdserverpb::RangeResponse page;
    if (absl::Status s =
            EtcdRange(*client_->kv, options_.etcd.op_timeout, read, &page);
        !s.ok()) {
      return s;
    }
    if (revision == 0) revision = page.header().revision();
    for (const auto& kv : page.kvs()) {
      on_block(meta_keys::DecodeU64(kv.value()), true);
    }
    if (!page.more() || page.kvs_size() == 0) break;
    from = page.kvs(page.kvs_size() - 1).key();
    from.push_back('\0');
  }
  on_block_ = std::move(on_block);
  absl::MutexLock lock(&mu_);
  next_revision_ = revision + 1;
  feed_ = std::thread([this] { FeedLoop(); });
  return absl::OkStatus();
}

void EtcdSharedVolume::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (call_ != nullptr) call_->TryCancel();
  }
  if (feed_.joinable()) feed_.join();
}

void EtcdSharedVolume::SetChangeListener(ChangeListener listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
}

void EtcdSharedVolume::FeedLoop() {
  for (;;) {
    grpc::ClientContext context;
    etcdserverpb::WatchRequest request;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      call_ = &context;
      etcdserverpb::WatchCreateRequest* create =
          request.mutable_create_request();
      create->set_key(prefix_);
      create->set_range_end(meta_keys::PrefixEnd(prefix_));
      create->set_start_revision(next_revision_);
      create->set_prev_kv(true);
    }
    std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest,
                                             etcdserverpb::WatchResponse>>
        stream = client_->watch->Watch(&context);
    bool compacted = false;
    if (stream->Write(request)) {
      etcdserverpb::WatchResponse response;
      while (stream->Read(&response)) {
        if (response.compact_revision() > 0) {
          compacted = true;
          break;
        }
        if (response.canceled()) break;
        Deliver(response);
      }
    }
    context.TryCancel();
    const grpc::Status status = stream->Finish();
    absl::MutexLock lock(&mu_);
    call_ = nullptr;
    if (stopping_) return;
    if (compacted) {
      LogError(
          "the change feed of %s fell behind etcd's compaction (revision %d "
          "is gone): this server's view of the volume's free blocks cannot "
          "be kept; stopping",
          prefix_, next_revision_);
      if (options_.on_lost) options_.on_lost();
      return;
    }
    LogWarning("the change feed of %s broke (%s); resuming at revision %d",
               prefix_, status.error_message(), next_revision_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), kResumeDelay);
  }
}

void EtcdSharedVolume::Deliver(const etcdserverpb::WatchResponse& response) {
  int64_t revision = 0;
  bool own = false;
  for (const mvccpb::Event& event : response.events()) {
    if (event.kv().mod_revision() != revision) {
      revision = event.kv().mod_revision();
      own = options_.etcd.own_commits != nullptr &&
            options_.etcd.own_commits->Take(revision);
    }
    if (event.kv().key().size() < prefix_.size()) continue;
    StoreChange change;
    change.key = event.kv().key().substr(prefix_.size());
    change.deleted = event.type() == mvccpb::Event::DELETE;
    if (!change.deleted) change.value = event.kv().value();
    change.prev_value = event.prev_kv().value();
    change.own = own;
    uint64_t ino = 0;
    uint64_t index = 0;
    if (meta_keys::ParseBlockKey(change.key, &ino, &index)) {
      const bool had = event.has_prev_kv();
      const uint64_t before = meta_keys::DecodeU64(change.prev_value);
      const uint64_t after = meta_keys::DecodeU64(change.value);
      if (had && (change.deleted || before != after)) on_block_(before, false);
      if (!change.deleted && (!had || before != after)) on_block_(after, true);
    }
    absl::MutexLock lock(&listener_mu_);
    if (listener_) listener_(change);
  }
  if (revision == 0) return;
  // Only the events' own revisions: the header's may run ahead of events
  // still to come in later responses.
  absl::MutexLock lock(&mu_);
  next_revision_ = std::max(next_revision_, revision + 1);
}

absl::StatusOr<uint64_t> EtcdSharedVolume::ClaimGroup(
    const std::vector<uint64_t>& preference) {
  const std::string groups = prefix_ + std::string(meta_keys::kGroups);
  etcdserverpb::RangeRequest read;
  read.set_key(groups);
  read.set_range_end(meta_keys::PrefixEnd(groups));
  read.set_keys_only(true);
  etcdserverpb::RangeResponse held;
  if (absl::Status s =
          EtcdRange(*client_->kv, options_.etcd.op_timeout, read, &held);
      !s.ok()) {
    return s;
  }
  absl::flat_hash_set<uint64_t> taken;
  for (const auto& kv : held.kvs()) {
    uint64_t group = 0;
    if (meta_keys::ParseGroupKey(kv.key().substr(prefix_.size()), &group)) {
      taken.insert(group);
    }
  }
  const std::string fence = prefix_ + options_.etcd.fence_key;
  for (uint64_t group : preference) {
    if (taken.contains(group)) continue;
    const std::string key = prefix_ + meta_keys::GroupKey(group);
    etcdserverpb::TxnRequest txn;
    RequireCreateRevision(key, 0, &txn);
    AddServingFence(fence, options_.etcd.fence_revision, &txn);
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(meta_keys::EncodeU64(static_cast<uint64_t>(options_.lease)));
    put->set_lease(options_.lease);
    etcdserverpb::TxnResponse response;
    if (absl::Status s = EtcdTxn(*client_->kv, options_.etcd.op_timeout, txn,
                                 &response, "claim allocation group");
        !s.ok()) {
      return s;
    }
    if (FailedOnServingFence(options_.etcd.fence_revision, response)) {
      return ErrnoError(EIO, absl::StrCat("this server no longer serves ",
                                          prefix_, ": its lease ended"));
    }
    if (!response.succeeded()) continue;  // claimed by another meanwhile
    // Every map of the group's blocks up to the claim must be known before
    // this server allocates in it.
    const int64_t claimed = response.header().revision();
    absl::MutexLock lock(&mu_);
    auto caught_up = [this, claimed]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return next_revision_ > claimed || stopping_;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&caught_up),
                              options_.etcd.op_timeout) ||
        stopping_) {
      return ErrnoError(EIO,
                        "the change feed did not reach the claim of an "
                        "allocation group in time");
    }
    LogInfo("allocating from group %d of %s", group, prefix_);
    return group;
  }
  return absl::NotFoundError("every allocation group is held by a server");
}

absl::StatusOr<bool> EtcdSharedVolume::Serves(absl::string_view member) {
  etcdserverpb::RangeRequest read;
  read.set_key(prefix_ + std::string(member));
  read.set_count_only(true);
  etcdserverpb::RangeResponse found;
  if (absl::Status s =
          EtcdRange(*client_->kv, options_.etcd.op_timeout, read, &found);
      !s.ok()) {
    return s;
  }
  return found.count() > 0;
}

}  // namespace rbfs
