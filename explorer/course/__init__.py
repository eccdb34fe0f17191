"""The course: lessons, questions, try-it checks and the learner's progress.

`lessons` reads the lesson files, `questions` asks and grades predictions and
quizzes, `checks` judges the try-it tasks from frames, and `progress` keeps
what the learner finished. Sans-I/O but for `progress`'s one file: nothing
here opens a socket or imports Textual.
"""
