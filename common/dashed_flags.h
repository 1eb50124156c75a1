// The command-line programs document their flags with dashes
// (--metrics-listen), as most Unix tools do; Abseil's flags are named with
// underscores. UnderscoreFlagNames bridges the two before
// absl::ParseCommandLine.
#ifndef RBFS_COMMON_DASHED_FLAGS_H_
#define RBFS_COMMON_DASHED_FLAGS_H_

#include <vector>

namespace rbfs {

// argv with every dash in the name part of a "--flag" or "--flag=value"
// argument turned into an underscore (in place; the values are left alone),
// up to a "--" that ends the flags.
std::vector<char*> UnderscoreFlagNames(int argc, char** argv);

}  // namespace rbfs

#endif  // RBFS_COMMON_DASHED_FLAGS_H_
