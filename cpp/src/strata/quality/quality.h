/// \file
/// strata::quality — data quality: expectation suites validated over Arrow data, data contracts
/// and the gates that enforce them before a commit, column profiles, and drift between datasets.
///
/// Uses exec/ (to read a table at a version), ops/ (the pre-commit validator interface it
/// implements), expr/ (row expressions) and table/. Knows nothing of features, Kafka or serving.
#pragma once

#include "strata/quality/expectation.h"
#include "strata/quality/report.h"
#include "strata/quality/suite.h"
