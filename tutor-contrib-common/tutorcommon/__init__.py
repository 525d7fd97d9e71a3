"""
Code that the Open edX Aspects Tutor plugins share: checks of setting values, the guard that
refuses bad settings, and helpers to render hook items. A plain library, not a Tutor plugin:
its modules register no hook when imported, and import nothing heavier than Tutor.
"""
