"""Pure rules of access control: schedules, codes, lock facts. No I/O."""
