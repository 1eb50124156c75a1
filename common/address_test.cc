#include "common/address.h"

#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(AddressTest, RecognisesLoopbackAddresses) {
  for (const char* a : {"127.0.0.1:7420", "127.1.2.3:1", "localhost:7420",
                        "LOCALHOST:1", "[::1]:7420"}) {
    EXPECT_TRUE(IsLoopbackAddress(a)) << a;
  }
  for (const char* a : {"0.0.0.0:7420", "[::]:7420", ":7420", "10.0.0.1:7420",
                        "example.com:7420", "[::ffff:10.0.0.1]:1"}) {
    EXPECT_FALSE(IsLoopbackAddress(a)) << a;
  }
}

}  // namespace
}  // namespace rbfs
