#include "cli/commands/format.h"

#include <algorithm>

#include "absl/strings/str_join.h"
#include "absl/time/time.h"

namespace fwd::cli::commands {
namespace {

size_t displayWidth(const std::string& s) {
  // Counts code points: every byte that is not a UTF-8 continuation byte.
  return std::count_if(s.begin(), s.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

bool isUnset(const google::protobuf::Timestamp& ts) { return ts.seconds() == 0 && ts.nanos() == 0; }

}  // namespace

Table::Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }

void Table::addRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

std::string Table::render() const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], displayWidth(row[c]));
    }
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) {
        line.append(widths[c] - displayWidth(row[c]) + 2, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line;
    out += '\n';
  }
  return out;
}

std::string formatTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(ts.seconds()),
                          absl::UTCTimeZone());
}

Json timestampJson(const google::protobuf::Timestamp& ts) {
  if (isUnset(ts)) {
    return nullptr;
  }
  return formatTimestamp(ts);
}

std::string timestampCell(const google::protobuf::Timestamp& ts) {
  return isUnset(ts) ? "-" : formatTimestamp(ts);
}

std::chrono::milliseconds toMillis(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(d.seconds() * 1000 + d.nanos() / 1'000'000);
}

google::protobuf::Duration toProtoDuration(std::chrono::milliseconds d) {
  google::protobuf::Duration out;
  out.set_seconds(d.count() / 1000);
  out.set_nanos(static_cast<std::int32_t>((d.count() % 1000) * 1'000'000));
  return out;
}

std::string joinedOr(const google::protobuf::RepeatedPtrField<std::string>& items,
                     const std::string& empty) {
  if (items.empty()) {
    return empty;
  }
  return absl::StrJoin(items.begin(), items.end(), ",");
}

void writeJson(std::ostream& out, const Json& doc) {
  // Invalid UTF-8 from the server is replaced rather than aborting the whole document.
  out << doc.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

}  // namespace fwd::cli::commands
