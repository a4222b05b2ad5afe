// Request records as protobuf wire bytes, written straight from ring entries on the records
// sender's thread: the same bytes protobuf would write for the fwd.v1.Record that
// Recorder::toProto makes of an entry, without building that message and serializing it (which
// cost most of the sender's time per record). A batch is the bytes of a fwd.v1.RecordBatch
// without its seq; the seq is appended when the batch is sent (a field that comes twice keeps
// its last value, so a batch from the spill file gets its new seq the same way).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "dataplane/records/record_entry.h"

namespace fwd::dataplane::records::wire {

/// Appends field `field` as a varint (left out when 0, as proto3 does).
void appendVarintField(std::string& out, int field, std::uint64_t value);
/// Appends field `field` as a string: not UTF-8 becomes U+FFFD (the control plane cannot parse a
/// string field that is not UTF-8); left out when empty.
void appendStringField(std::string& out, int field, std::string_view value);

/// Where a record is written while its length is not known yet; kept from call to call, so
/// that encoding allocates nothing once it is big enough.
struct Scratch {
  std::unique_ptr<char[]> buffer;
  size_t room = 0;
};

/// Appends `e` to `batch` as one element of fwd.v1.RecordBatch.records (field 2). `client_ip`:
/// the entry's client address as text (empty: none).
void appendRecord(std::string& batch, const RecordEntry& e, std::string_view client_ip,
                  Scratch& scratch);

}  // namespace fwd::dataplane::records::wire
