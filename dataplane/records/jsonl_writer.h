// The data plane's chat logs (fwd-dataplane --jsonl-dir DIR): one JSON object per line per
// request in DIR/client_interaction.jsonl (what the client sent and got) and, for a request an
// upstream was tried for, DIR/server_interaction.jsonl (what the upstream was sent and
// answered). Written by the recorder's thread from the record entries the workers hand over,
// never by a worker. Every line is valid JSON whatever the bodies hold: control bytes, NUL and
// escape sequences are escaped, bytes that are not UTF-8 become U+FFFD, bodies are cut to
// --log-body-max-bytes. A file is rotated when a line would take it past --jsonl-max-bytes, or
// on the first write of a new day (UTC): it is renamed NAME-YYYY-MM-DD[.N].jsonl after the day
// of its first line. A write that fails (a full disk, a file size limit) drops its lines, counts
// them (fwd_jsonl_dropped_total) and leaves the file as it was: no half line.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/records/bodies.h"
#include "fwd/v1/records.pb.h"

namespace fwd::dataplane::records {

/// Appends `text` as a JSON string, quotes included: ", \ and control characters (C0 and DEL)
/// escaped, bytes that are not valid UTF-8 as U+FFFD.
void appendJsonString(std::string& out, std::string_view text);

class JsonlFile {
 public:
  /// `name` is the file's base name without ".jsonl" ("client_interaction").
  JsonlFile(std::string dir, std::string name, std::uint64_t max_bytes);
  ~JsonlFile();
  JsonlFile(const JsonlFile&) = delete;
  JsonlFile& operator=(const JsonlFile&) = delete;

  /// Adds a whole line (ending in '\n') to what the next flush writes.
  void add(std::string_view line) {
    pending_.append(line);
    ++pending_lines_;
  }
  /// Lines added since the last flush.
  std::uint64_t pendingLines() const { return pending_lines_; }
  /// Writes what was added, rotating first when due; `now_unix_s` is the time to rotate by.
  /// Returns the lines that could not be written (0: all were).
  std::uint64_t flush(std::int64_t now_unix_s);

  const std::string& path() const { return path_; }

 private:
  bool open();
  void rotate();

  std::string dir_;
  std::string name_;
  std::string path_;
  std::uint64_t max_bytes_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::int64_t day_ = -1;  // days since 1970 (UTC) of the file's first line; -1: empty
  std::string pending_;
  std::uint64_t pending_lines_ = 0;
  bool failing_ = false;  // the last write failed (logged once per failure streak)
};

class JsonlWriter {
 public:
  struct Options {
    std::string dir;
    std::uint64_t max_bytes = 128u << 20;  // a file is rotated before it passes this
    std::string node_id;
  };
  JsonlWriter(Options options, prometheus::Registry& registry);

  /// Adds the lines of one request: `r` is its record, `bodies` null when none were kept.
  void add(const fwd::v1::Record& r, const Bodies* bodies);
  /// Writes the lines added since the last flush.
  void flush();

  /// The line client_interaction.jsonl gets for a request, '\n' included.
  static std::string clientLine(const fwd::v1::Record& r, const Bodies* bodies,
                                std::string_view node_id);
  /// The line server_interaction.jsonl gets, or "" when no upstream was tried.
  static std::string serverLine(const fwd::v1::Record& r, const Bodies* bodies,
                                std::string_view node_id);

 private:
  Options options_;
  JsonlFile client_;
  JsonlFile server_;
  prometheus::Family<prometheus::Counter>& lines_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Counter& client_lines_;
  prometheus::Counter& server_lines_;
  prometheus::Counter& client_dropped_;
  prometheus::Counter& server_dropped_;
};

}  // namespace fwd::dataplane::records
