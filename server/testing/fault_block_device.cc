#include "server/testing/fault_block_device.h"

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "server/store/block_store.h"

namespace rbfs {

void VolumeFaults::FailReads(int err, uint64_t from_block) {
  absl::MutexLock lock(&mu_);
  read_err_ = err;
  read_from_ = from_block;
}

void VolumeFaults::FailWrites(int err, uint64_t from_block) {
  absl::MutexLock lock(&mu_);
  write_err_ = err;
  write_from_ = from_block;
}

void VolumeFaults::FailSyncs(int err) {
  absl::MutexLock lock(&mu_);
  sync_err_ = err;
}

void VolumeFaults::Die() {
  absl::MutexLock lock(&mu_);
  dead_ = true;
}

uint64_t VolumeFaults::writes() const {
  absl::MutexLock lock(&mu_);
  return writes_;
}

uint64_t VolumeFaults::syncs() const {
  absl::MutexLock lock(&mu_);
  return syncs_;
}

absl::StatusOr<uint64_t> VolumeFaults::PowerCut(const std::string& volume_path,
                                                std::mt19937_64* rng,
                                                double keep) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::unique_ptr<BlockStore>> volume =
      BlockStore::Open(volume_path, BlockStore::Options(),
                       /*may_format=*/false);
  if (!volume.ok()) return volume.status();
  std::bernoulli_distribution kept(keep);
  uint64_t restored = 0;
  for (const auto& [block, content] : unsynced_) {
    if (kept(*rng)) continue;
    if (absl::Status s = (*volume)->Write(block, 0, content); !s.ok()) {
      return s;
    }
    ++restored;
  }
  if (absl::Status s = (*volume)->Sync(); !s.ok()) return s;
  unsynced_.clear();
  dead_ = false;
  return restored;
}

absl::Status FaultBlockDevice::Read(uint64_t block, uint32_t offset, char* data,
                                    uint32_t length) const {
  {
    absl::MutexLock lock(&faults_->mu_);
    if (faults_->read_err_ != 0 && block >= faults_->read_from_) {
      return ErrnoError(faults_->read_err_,
                        absl::StrCat("injected read fault, block ", block));
    }
  }
  return inner_->Read(block, offset, data, length);
}

absl::Status FaultBlockDevice::Write(uint64_t block, uint32_t offset,
                                     absl::string_view data) const {
  absl::MutexLock lock(&faults_->mu_);
  if (faults_->dead_) return absl::OkStatus();
  if (faults_->write_err_ != 0 && block >= faults_->write_from_) {
    return ErrnoError(faults_->write_err_,
                      absl::StrCat("injected write fault, block ", block));
  }
  if (!faults_->unsynced_.contains(block) && block > 0 &&
      block < inner_->block_count()) {
    std::string before(inner_->block_size(), '\0');
    if (absl::Status s =
            inner_->Read(block, 0, before.data(), inner_->block_size());
        !s.ok()) {
      return s;
    }
    faults_->unsynced_.emplace(block, std::move(before));
  }
  ++faults_->writes_;
  return inner_->Write(block, offset, data);
}

absl::Status FaultBlockDevice::Sync() const {
  absl::MutexLock lock(&faults_->mu_);
  if (faults_->dead_) return absl::OkStatus();
  if (faults_->sync_err_ != 0) {
    return ErrnoError(faults_->sync_err_, "injected sync fault");
  }
  if (absl::Status s = inner_->Sync(); !s.ok()) return s;
  ++faults_->syncs_;
  faults_->unsynced_.clear();
  return absl::OkStatus();
}

}  // namespace rbfs
