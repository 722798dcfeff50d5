"""The API client: every call to the Arvados API server and the event
stream, with the SDK's errors turned into ours."""
