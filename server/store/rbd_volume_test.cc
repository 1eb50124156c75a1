// RbdVolume against a real Ceph cluster on loopback (deploy/ceph-dev.sh).
#include "server/store/rbd_volume.h"

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/errno_status.h"
#include "gtest/gtest.h"
#include "testing/ceph_cluster.h"

namespace rbfs {
namespace {

class RbdVolumeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::CephCluster>> started =
        testing::CephCluster::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    cluster_ = started->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  RbdOptions Options(const std::string& image) const {
    RbdOptions options;
    options.conf_path = cluster_->conf();
    options.pool = cluster_->pool();
    options.image = image;
    options.block_size = 65536;
    options.volume_size = uint64_t{256} << 20;
    options.op_timeout = absl::Seconds(5);
    return options;
  }

  // Creates `image` directly with librbd and writes `bytes` at `offset`.
  void MakeForeignImage(const std::string& image, uint64_t offset,
                        const std::string& bytes) {
    rados_t rados;
    ASSERT_EQ(rados_create(&rados, "admin"), 0);
    ASSERT_EQ(rados_conf_read_file(rados, cluster_->conf().c_str()), 0);
    ASSERT_EQ(rados_connect(rados), 0);
    rados_ioctx_t io;
    ASSERT_EQ(rados_ioctx_create(rados, cluster_->pool().c_str(), &io), 0);
    int order = 22;
    ASSERT_EQ(rbd_create(io, image.c_str(), uint64_t{256} << 20, &order), 0);
    rbd_image_t handle;
    ASSERT_EQ(rbd_open(io, image.c_str(), &handle, nullptr), 0);
    ASSERT_EQ(rbd_write(handle, offset, bytes.size(), bytes.data()),
              static_cast<ssize_t>(bytes.size()));
    ASSERT_EQ(rbd_write(handle, 0, 7, "foreign"), 7);
    rbd_close(handle);
    rados_ioctx_destroy(io);
    rados_shutdown(rados);
  }

  static inline testing::CephCluster* cluster_ = nullptr;
};

TEST_F(RbdVolumeTest, ANewImageIsFormattedAndKeepsWhatIsWritten) {
  const RbdVolumeFactory factory(Options("fresh"));
  EXPECT_FALSE(factory.Exists());
  EXPECT_EQ(factory.location(), "rbd:" + cluster_->pool() + "/fresh");
  uint64_t id = 0;
  {
    absl::StatusOr<OpenedVolume> opened = factory.Open(/*may_format=*/false);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_TRUE(opened->formatted);
    EXPECT_TRUE(opened->zeroed);
    id = opened->volume_id;
    const BlockDevice& volume = *opened->device;
    EXPECT_EQ(volume.block_size(), 65536u);
    EXPECT_EQ(volume.block_count(), 4096u);
    std::string zeros(100, 'x');
    ASSERT_TRUE(volume.Read(3, 0, zeros.data(), zeros.size()).ok());
    EXPECT_EQ(zeros, std::string(100, '\0'));
    const std::string block(65536, 'b');
    ASSERT_TRUE(volume.Write(4095, 0, block).ok());
    ASSERT_TRUE(volume.Write(3, 100, "hello").ok());
    ASSERT_TRUE(volume.Sync().ok());
  }
  EXPECT_TRUE(factory.Exists());
  absl::StatusOr<OpenedVolume> again = factory.Open(/*may_format=*/false);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->formatted);
  EXPECT_EQ(again->volume_id, id);
  char got[5];
  ASSERT_TRUE(again->device->Read(3, 100, got, sizeof(got)).ok());
  EXPECT_EQ(std::string(got, sizeof(got)), "hello");
  std::string last(65536, '\0');
  ASSERT_TRUE(again->device->Read(4095, 0, last.data(), last.size()).ok());
  EXPECT_EQ(last, std::string(65536, 'b'));
}

// One request's blocks go out together and read back in place.
TEST_F(RbdVolumeTest, ManyPiecesAtOnceLandWhereTheyBelong) {
  absl::StatusOr<OpenedVolume> opened =
      RbdVolumeFactory(Options("many")).Open(false);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::vector<std::string> data;
  std::vector<BlockDevice::WritePiece> writes;
  for (int i = 0; i < 32; ++i) {
    data.push_back(std::string(65536 - i, static_cast<char>('a' + i % 26)));
  }
  for (int i = 0; i < 32; ++i) {
    writes.push_back({static_cast<uint64_t>(100 + 3 * i),
                      static_cast<uint32_t>(i), data[i]});
  }
  ASSERT_TRUE(opened->device->WriteMany(writes).ok());
  std::vector<std::string> back(32);
  std::vector<BlockDevice::ReadPiece> reads;
  for (int i = 0; i < 32; ++i) {
    back[i].resize(data[i].size());
    reads.push_back({static_cast<uint64_t>(100 + 3 * i),
                     static_cast<uint32_t>(i), back[i].data(),
                     static_cast<uint32_t>(back[i].size())});
  }
  ASSERT_TRUE(opened->device->ReadMany(reads).ok());
  for (int i = 0; i < 32; ++i) EXPECT_TRUE(back[i] == data[i]) << i;
  // A piece outside the volume fails the call before anything starts.
  std::vector<BlockDevice::WritePiece> bad = {{5, 0, "x"}, {4096, 0, "y"}};
  EXPECT_EQ(StatusToErrno(opened->device->WriteMany(bad)), EIO);
}

TEST_F(RbdVolumeTest, BlocksOutsideTheVolumeAreRefused) {
  absl::StatusOr<OpenedVolume> opened =
      RbdVolumeFactory(Options("bounds")).Open(false);
  ASSERT_TRUE(opened.ok()) << opened.status();
  char byte;
  EXPECT_EQ(StatusToErrno(opened->device->Read(0, 0, &byte, 1)), EIO);
  EXPECT_EQ(StatusToErrno(opened->device->Read(4096, 0, &byte, 1)), EIO);
  EXPECT_EQ(StatusToErrno(opened->device->Write(1, 65535, "ab")), EIO);
}

// An image with someone's data and no rbfs header is formatted only when
// allowed, and then its old bytes do not show through.
TEST_F(RbdVolumeTest, AForeignImageIsFormattedOnlyWhenAllowedAndThenZeroed) {
  MakeForeignImage("foreign", 5 * 65536, "old secret bytes");
  const RbdVolumeFactory factory(Options("foreign"));
  EXPECT_EQ(StatusToErrno(factory.Open(/*may_format=*/false).status()), EINVAL);
  absl::StatusOr<OpenedVolume> opened = factory.Open(/*may_format=*/true);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->formatted);
  EXPECT_TRUE(opened->zeroed);
  std::string old(16, 'x');
  ASSERT_TRUE(opened->device->Read(5, 0, old.data(), old.size()).ok());
  EXPECT_EQ(old, std::string(16, '\0'));
}

// One server per volume: opening it again fences the previous opener (a
// crashed or stale server), whose writes fail from then on.
TEST_F(RbdVolumeTest, OpeningAgainFencesThePreviousOpener) {
  const RbdVolumeFactory factory(Options("fenced"));
  absl::StatusOr<OpenedVolume> first = factory.Open(false);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->device->Write(1, 0, "first").ok());
  ASSERT_TRUE(first->device->Sync().ok());
  absl::StatusOr<OpenedVolume> second = factory.Open(false);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->volume_id, first->volume_id);
  EXPECT_EQ(StatusToErrno(first->device->Write(1, 0, "stale")), EIO);
  ASSERT_TRUE(second->device->Write(2, 0, "second").ok());
  char got[5];
  ASSERT_TRUE(second->device->Read(1, 0, got, sizeof(got)).ok());
  EXPECT_EQ(std::string(got, sizeof(got)), "first");
}

// Last: it stops the cluster. Calls then fail within the operation timeout
// instead of hanging.
TEST_F(RbdVolumeTest, AClusterGoneGivesEioWithinTheTimeout) {
  absl::StatusOr<OpenedVolume> opened =
      RbdVolumeFactory(Options("gone")).Open(false);
  ASSERT_TRUE(opened.ok()) << opened.status();
  ASSERT_TRUE(opened->device->Write(1, 0, "before").ok());
  ASSERT_TRUE(cluster_->Stop().ok());
  const absl::Time began = absl::Now();
  const absl::Status written = opened->device->Write(2, 0, "after");
  const absl::Duration took = absl::Now() - began;
  EXPECT_EQ(StatusToErrno(written), EIO) << written;
  // 5 s timeout, and scheduling slack on a loaded machine.
  EXPECT_LT(took, absl::Seconds(20)) << written;
  EXPECT_FALSE(RbdVolumeFactory(Options("gone")).Open(false).ok());
}

}  // namespace
}  // namespace rbfs
