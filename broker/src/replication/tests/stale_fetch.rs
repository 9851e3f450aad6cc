//! Scenario 10 (placeholder while the driver test is checked).
