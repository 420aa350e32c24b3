"""The generation wizard: a draft VideoRequest built step by step in one message edited in place."""
