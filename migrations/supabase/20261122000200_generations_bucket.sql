-- Production store, part 3: the private Storage bucket for finished videos (`<user>/<generation>.mp4`)
-- and the users' uploaded input images (`inputs/<user>/<uuid>.jpg`). Private: people get signed URLs.
-- The size limit matches MAX_VIDEO_MB's default (2000 MiB); the project's global upload limit (50 MB
-- on the Free plan) still applies on top of it.
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values (
    'generations',
    'generations',
    false,
    2097152000,
    array['video/mp4', 'video/quicktime', 'video/webm', 'image/jpeg', 'image/png', 'image/webp']
)
on conflict (id) do update
    set public = false,
        file_size_limit = excluded.file_size_limit,
        allowed_mime_types = excluded.allowed_mime_types;
