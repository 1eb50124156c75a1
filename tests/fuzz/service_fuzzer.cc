// libFuzzer entry points for ServiceHarness (service_harness.h).
//
// One harness, and so one volume, per process: LLVMFuzzerInitialize formats
// it in a fresh directory under $RBFS_FUZZ_DIR (else $TEST_TMPDIR, /dev/shm,
// /tmp); at exit the volume gets a last offline check and is removed.
// RBFS_FUZZ_FAMILY (a compile-time define: kAll, kNamespace, kData, kAttr)
// picks the RPCs; $RBFS_FUZZ_CHECK_EVERY how many scripts run between
// checks (default 256).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/fuzz/service_harness.h"

#ifndef RBFS_FUZZ_FAMILY
#define RBFS_FUZZ_FAMILY kAll
#endif

namespace {

rbfs::fuzz::ServiceHarness* harness = nullptr;
std::string* volume_dir = nullptr;

std::string BaseDir() {
  for (const char* var : {"RBFS_FUZZ_DIR", "TEST_TMPDIR"}) {
    const char* dir = std::getenv(var);
    if (dir != nullptr && *dir != '\0') return dir;
  }
  return std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
}

void FinalCheck() {
  harness->CheckNow();
  std::fprintf(stderr, "rbfs fuzz: %s\n", harness->Summary().c_str());
  std::fprintf(stderr, "rbfs fuzz: %llu scripts, %llu clean volume checks\n",
               static_cast<unsigned long long>(harness->scripts_run()),
               static_cast<unsigned long long>(harness->checks_run()));
  std::error_code ignored;
  std::filesystem::remove_all(*volume_dir, ignored);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string pattern = BaseDir() + "/rbfs-fuzz-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    std::perror(pattern.c_str());
    std::abort();
  }
  volume_dir = new std::string(pattern);
  int check_every = 256;
  if (const char* every = std::getenv("RBFS_FUZZ_CHECK_EVERY")) {
    check_every = std::atoi(every);
  }
  harness = new rbfs::fuzz::ServiceHarness(
      *volume_dir, rbfs::fuzz::Family::RBFS_FUZZ_FAMILY, check_every);
  std::atexit(FinalCheck);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  harness->RunScript(data, size);
  return 0;
}
