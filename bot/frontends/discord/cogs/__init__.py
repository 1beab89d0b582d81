"""Discord cogs, one per file; `bot.frontends.discord.bot.EXTENSIONS` lists the ones loaded."""
