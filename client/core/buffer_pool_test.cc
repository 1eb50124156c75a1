#include "client/core/buffer_pool.h"

#include <string>

#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(BufferPoolTest, ReusesCapacity) {
  BufferPool pool(2);
  std::string buffer = pool.Get();
  buffer.assign(1 << 20, 'a');
  const char* storage = buffer.data();
  pool.Put(std::move(buffer));
  std::string again = pool.Get();
  EXPECT_TRUE(again.empty());
  EXPECT_GE(again.capacity(), 1u << 20);
  EXPECT_EQ(again.data(), storage);
}

TEST(BufferPoolTest, KeepsAtMostMaxKept) {
  BufferPool pool(1);
  std::string a(4096, 'a');
  std::string b(4096, 'b');
  pool.Put(std::move(a));
  pool.Put(std::move(b));
  EXPECT_EQ(pool.returned(), 2u);
  EXPECT_GE(pool.Get().capacity(), 4096u);
  EXPECT_EQ(pool.Get().capacity(), std::string().capacity());
}

}  // namespace
}  // namespace rbfs
