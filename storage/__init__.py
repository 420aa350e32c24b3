"""Persistence behind small interfaces: the embedded SQLite backend and (later) Supabase."""
