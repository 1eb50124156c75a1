#include "client/fuse/read_ahead.h"

#include <cerrno>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/errno_status.h"

namespace rbfs {
namespace {

// mountinfo writes space, tab, newline and backslash in paths as \ooo.
std::string Unescape(absl::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && field.size() - i > 3) {
      const absl::string_view digits = field.substr(i + 1, 3);
      if (digits.find_first_not_of("01234567") == absl::string_view::npos) {
        out.push_back(static_cast<char>(((digits[0] - '0') << 6) |
                                        ((digits[1] - '0') << 3) |
                                        (digits[2] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> MountDevice(absl::string_view mountinfo,
                                        absl::string_view mount_point) {
  std::string device;
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n')) {
    // ID PARENT MAJOR:MINOR ROOT MOUNT-POINT OPTIONS ...
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 5) continue;
    if (Unescape(fields[4]) == mount_point) device = std::string(fields[2]);
  }
  if (device.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no mount at ", mount_point, " in mountinfo"));
  }
  return device;
}

absl::Status SetReadAhead(absl::string_view mount_point, uint32_t kib) {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::string> device = MountDevice(text.str(), mount_point);
  if (!device.ok()) return device.status();
  const std::string path =
      absl::StrCat("/sys/class/bdi/", *device, "/read_ahead_kb");
  std::ofstream out(path);
  out << kib << '\n';
  out.flush();
  if (!out) {
    return ErrnoError(errno == 0 ? EIO : errno,
                      absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace rbfs
