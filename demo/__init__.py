"""A reference agent backend that speaks the seven events, and players that chat with it."""
