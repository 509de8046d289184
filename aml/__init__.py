"""Transaction monitoring and AML casework: transactions in, rules, alerts, cases, SARs."""
