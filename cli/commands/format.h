// Shared output helpers: aligned text tables, RFC 3339 UTC times, durations in fwd's spelling
// ("600s", "2m"), and the one-document JSON writer used by -o json.
#pragma once

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace fwd::cli::commands {

using Json = nlohmann::ordered_json;

/// Left-aligned columns separated by two spaces, a header row first, no trailing spaces.
/// Widths count UTF-8 code points, so "…abcd" lines up.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void addRow(std::vector<std::string> row);
  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

/// "2026-11-22T10:00:00Z" (whole seconds, UTC).
std::string formatTimestamp(const google::protobuf::Timestamp& ts);

/// The timestamp as a JSON string, or null when unset (seconds and nanos both zero).
Json timestampJson(const google::protobuf::Timestamp& ts);

/// The timestamp for a table cell, "-" when unset.
std::string timestampCell(const google::protobuf::Timestamp& ts);

std::chrono::milliseconds toMillis(const google::protobuf::Duration& d);
google::protobuf::Duration toProtoDuration(std::chrono::milliseconds d);

/// "a,b" or `empty` when there are none.
std::string joinedOr(const google::protobuf::RepeatedPtrField<std::string>& items,
                     const std::string& empty);

/// Writes one JSON document, pretty-printed, followed by a newline.
void writeJson(std::ostream& out, const Json& doc);

/// "\"name\"" as used in confirmation lines: upstream "local" created.
std::string quoted(const std::string& s);

}  // namespace fwd::cli::commands
