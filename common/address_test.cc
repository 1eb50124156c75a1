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

TEST(AddressTest, SplitsHostAndPort) {
  std::optional<HostPort> v4 = SplitHostPort("127.0.0.1:9420");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 9420);
  std::optional<HostPort> v6 = SplitHostPort("[::1]:0");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  EXPECT_FALSE(SplitHostPort("localhost").has_value());
  EXPECT_FALSE(SplitHostPort("localhost:http").has_value());
}

TEST(AddressTest, AListOfServersIsOneGrpcTarget) {
  EXPECT_EQ(*GrpcTargetOf("server.example:7420"), "server.example:7420");
  EXPECT_EQ(*GrpcTargetOf(" 10.0.0.1:7420 ,10.0.0.2:7421,"),
            "ipv4:10.0.0.1:7420,10.0.0.2:7421");
  EXPECT_EQ(SplitAddressList("a:1,,b:2 "),
            (std::vector<std::string>{"a:1", "b:2"}));
  for (const char* bad :
       {"", " , ", "a.example:1,b.example:2", "10.0.0.1:7420,10.0.0.2",
        "10.0.0.1:1,10.0.0.2:70000"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(GrpcTargetOf(bad).status())) << bad;
  }
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:1,localhost:2"));
  EXPECT_FALSE(IsLoopbackAddress("127.0.0.1:1,10.0.0.1:2"));
}

}  // namespace
}  // namespace rbfs
