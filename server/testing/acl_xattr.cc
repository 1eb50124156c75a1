#include "server/testing/acl_xattr.h"

namespace rbfs::testing {

std::string AclXattr(const std::vector<PosixAcl::Entry>& entries) {
  std::string out("\x02\0\0\0", 4);
  for (const PosixAcl::Entry& e : entries) {
    const uint32_t id = e.tag == PosixAcl::kUser || e.tag == PosixAcl::kGroup
                            ? e.id
                            : 0xffffffff;
    for (uint32_t v : {uint32_t{e.tag}, uint32_t{e.perm}}) {
      out.push_back(static_cast<char>(v));
      out.push_back(static_cast<char>(v >> 8));
    }
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(id >> (8 * i)));
  }
  return out;
}

}  // namespace rbfs::testing
