// The command-line programs document their flags with dashes
// (--metrics-listen), as most Unix tools do; Abseil's flags are named with
// underscores. UnderscoreFlagNames bridges the two before
// absl::ParseCommandLine; SetFlagsHelp makes --help list a program's own
// flags (not every library's).
#ifndef RBFS_COMMON_DASHED_FLAGS_H_
#define RBFS_COMMON_DASHED_FLAGS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace rbfs {

// argv with every dash in the name part of a "--flag" or "--flag=value"
// argument turned into an underscore (in place; the values are left alone),
// up to a "--" that ends the flags.
std::vector<char*> UnderscoreFlagNames(int argc, char** argv);

// Sets --help to `usage` followed by the flags defined in the source file
// whose path ends with `main_file` ("server/server_main.cc"); returns that
// filter (for other uses of the program's own flags).
std::function<bool(absl::string_view)> SetFlagsHelp(absl::string_view usage,
                                                    std::string main_file);

}  // namespace rbfs

#endif  // RBFS_COMMON_DASHED_FLAGS_H_
