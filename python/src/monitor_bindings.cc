// Run monitoring: the process's run metrics (Prometheus text), reporting runs made outside the
// engine's write paths, and the runs table's schema. The recorder itself is installed when the
// module loads (module.cc), so every write from Python is recorded.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "bind_util.h"
#include "strata/ops/run_observer.h"
#include "strata/quality/monitor.h"

namespace strata_py {

using namespace nb::literals;

void BindMonitor(nb::module_& m) {
  m.def("run_metrics_text", [] { return strata::quality::RunMetricsText(); });
  m.def("runs_schema_capsule", [] { return ExportSchema(*strata::quality::RunsSchema()); });
  m.def(
      "record_run",
      [](const std::string& path, const std::string& operation, const std::string& source, int64_t version,
         int64_t rows_in, int64_t rows_out, int64_t rows_rejected, std::optional<int64_t> started_us,
         int64_t duration_us, std::optional<int64_t> newest_event_us, bool success, const std::string& error) {
        strata::ops::RunEvent e;
        e.store = Store(path);
        e.table_uri = e.store->root();  // the same label the engine's own runs of this table carry
        e.operation = operation;
        e.source = source;
        e.version = version;
        e.rows_in = rows_in;
        e.rows_out = rows_out;
        e.rows_rejected = rows_rejected;
        e.started_us = started_us.value_or(0);
        e.duration_us = duration_us;
        e.newest_event_us = newest_event_us;
        e.success = success;
        e.error = error;
        nb::gil_scoped_release release;
        strata::quality::RecordRun(std::move(e));
      },
      "path"_a, "operation"_a, "source"_a, "version"_a, "rows_in"_a, "rows_out"_a, "rows_rejected"_a,
      "started_us"_a = nb::none(), "duration_us"_a, "newest_event_us"_a = nb::none(), "success"_a, "error"_a);
}

}  // namespace strata_py
