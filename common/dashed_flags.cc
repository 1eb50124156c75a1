#include "common/dashed_flags.h"

#include <cstring>
#include <utility>

#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

namespace rbfs {

std::vector<char*> UnderscoreFlagNames(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  for (int i = 1; i < argc; ++i) {
    char* arg = argv[i];
    if (std::strcmp(arg, "--") == 0) break;
    if (std::strncmp(arg, "--", 2) != 0) continue;
    for (char* c = arg + 2; *c != '\0' && *c != '='; ++c) {
      if (*c == '-') *c = '_';
    }
  }
  return args;
}

std::function<bool(absl::string_view)> SetFlagsHelp(absl::string_view usage,
                                                    std::string main_file) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  config.contains_help_flags =
      [main_file = std::move(main_file)](absl::string_view file) {
        return absl::EndsWith(file, main_file);
      };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
  return config.contains_help_flags;
}

}  // namespace rbfs
